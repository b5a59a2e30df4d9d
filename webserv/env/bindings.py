"""How WebArena's site names map onto the sites webserv runs.

A WebArena task names sites such as ``shopping`` and ``shopping_admin``; here both are the
embedded shop (its storefront at ``/``, its admin CMS at ``/admin``), served by one instance
per episode. Each binding says which pool site serves the name, the path its placeholder
resolves to, and which account a logged-in task uses there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SiteBinding:
    """One WebArena site name: the pool site serving it, its base path, its login role."""

    pool_site: str
    path: str
    role: str


BINDINGS: dict[str, SiteBinding] = {
    "shopping": SiteBinding(pool_site="shop", path="", role="customer"),
    "shopping_admin": SiteBinding(pool_site="shop", path="/admin", role="admin"),
}


def binding(site: str) -> SiteBinding:
    if site not in BINDINGS:
        raise KeyError(f"no site serves {site!r}; webserv serves {', '.join(BINDINGS)}")
    return BINDINGS[site]


def pool_site_of(sites: list[str]) -> str:
    """The one pool site that serves every site of a task."""
    pool_sites = {binding(site).pool_site for site in sites}
    if len(pool_sites) != 1:
        raise ValueError(f"sites {sites} are served by {sorted(pool_sites)}; one site per task")
    return pool_sites.pop()


def base_urls(instance_url: str) -> dict[str, str]:
    """Placeholder values for every site name one instance at ``instance_url`` serves."""
    root = instance_url.rstrip("/")
    return {name: root + b.path for name, b in BINDINGS.items()}


def role_for_url(url: str, instance_url: str) -> str | None:
    """The login role of the site whose base URL is the longest prefix of ``url``."""
    best: tuple[int, str] | None = None
    for name, base in base_urls(instance_url).items():
        if url == base or url.startswith(base.rstrip("/") + "/"):
            if best is None or len(base) > best[0]:
                best = (len(base), BINDINGS[name].role)
    return best[1] if best else None
