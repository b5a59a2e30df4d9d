"""The registry of sites: every ``webserv.sites`` entry point of the installed packages.

An entry point names a :class:`Site` instance, a ``Site`` subclass or a callable returning
one. webserv's own sites register the same way (see ``pyproject.toml``), so a third-party
package adds a site by declaring one entry point, without touching webserv.
"""

from __future__ import annotations

import functools
import logging
import re
from importlib.metadata import entry_points
from pathlib import Path

from webserv.sites.plugin import Site

GROUP = "webserv.sites"
#: What runs when no site is named: webserv's own embedded shop.
DEFAULT_SITE = "shop"

log = logging.getLogger(__name__)


class UnknownSite(KeyError):
    """No registered site has this name."""

    def __str__(self) -> str:
        return str(self.args[0])


def _load(obj: object) -> Site:
    site = obj() if callable(obj) and not isinstance(obj, Site) else obj
    if not isinstance(site, Site):
        raise TypeError(f"entry point gave {type(site).__name__}, not a webserv Site")
    return site


@functools.cache
def sites() -> dict[str, Site]:
    """Every registered site by name (loaded once per process)."""
    found: dict[str, Site] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name):
        site = _load(ep.load())
        if site.name != ep.name:
            raise ValueError(f"entry point {ep.name!r} of {ep.value} registers site {site.name!r}")
        if site.name in found:
            log.warning("site %s is registered twice; keeping the first", site.name)
            continue
        found[site.name] = site
    return found


def default_site() -> str:
    """The site served when none is named: the embedded shop (or the first registered)."""
    registry = sites()
    return DEFAULT_SITE if DEFAULT_SITE in registry else next(iter(sorted(registry)))


def names() -> list[str]:
    return sorted(sites())


def get(name: str) -> Site:
    registry = sites()
    if name not in registry:
        raise UnknownSite(f"unknown site {name!r}; registered sites: {', '.join(sorted(registry))}")
    return registry[name]


def find_suite(name: str) -> Path:
    """The directory of the suite ``name`` that a registered site provides."""
    found = {suite: path for site in sites().values() for suite, path in site.suites().items()}
    if name not in found:
        raise KeyError(f"unknown suite {name!r}; known suites: {', '.join(sorted(found))}")
    return found[name]


def default_suite(site: str) -> Path:
    """The first suite ``site`` provides."""
    suites = get(site).suites()
    if not suites:
        raise KeyError(f"site {site} provides no task suite; give one (a name, dir or task file)")
    return next(iter(suites.values()))


def env_id(site: str) -> str:
    """The Gymnasium id of a site's env: ``shopping_admin`` gives ``webserv/ShoppingAdmin-v0``."""
    return "webserv/" + "".join(part.capitalize() for part in re.split(r"[_.-]", site)) + "-v0"


def reload() -> None:
    """Forget the loaded sites, e.g. after a package was installed into this process."""
    sites.cache_clear()
