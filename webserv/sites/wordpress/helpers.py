"""``func:`` evaluator helpers of the WordPress site, bound to one instance.

They read the instance's state through WordPress's REST API (``/?rest_route=/wp/v2/...``,
which needs no pretty permalinks) as the administrator, with the application password the
seed creates (:mod:`webserv.sites.wordpress.content`), in the ``edit`` context so drafts,
held comments and roles are visible. A helper that cannot answer raises
:class:`webserv.sites.webarena.helpers.HelperError` naming itself and the instance.

- ``wordpress_post_status(id)``, ``wordpress_post_title(id)``: a post's or page's status
  (``publish``, ``draft``, ``pending``, ``private``, ``trash``) and raw title.
- ``wordpress_comment_status(id)``: ``approved``, ``hold``, ``spam`` or ``trash``.
- ``wordpress_user_role(login)``: the user's roles, comma separated.
- ``wordpress_tag_names(post_id)``: the names of a post's tags, comma separated.
- ``wordpress_setting(name)``: a site setting (``title``, ``description``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from webserv.sites.webarena.helpers import HelperError, _reporting
from webserv.sites.wordpress.content import ADMIN_LOGIN, API_KEY


class WordPressRest:
    """The REST API of one WordPress instance, read as its administrator."""

    def __init__(self, url: str, client: httpx.AsyncClient, password: str) -> None:
        self.url = url.rstrip("/")
        self.client = client
        self.auth = httpx.BasicAuth(ADMIN_LOGIN, password)

    async def get(self, route: str, **params: str) -> Any:
        response = await self.client.get(
            f"{self.url}/",
            params={"rest_route": route, "context": "edit", **params},
            auth=self.auth,
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise HelperError(f"GET {route}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    async def post_or_page(self, post_id: int) -> dict[str, Any]:
        for kind in ("posts", "pages"):
            found = await self.get(f"/wp/v2/{kind}/{int(post_id)}")
            if found is not None:
                return dict(found)
        raise HelperError(f"no post or page {post_id}")


def wordpress_helpers(
    site: str, url: str, client: httpx.AsyncClient
) -> dict[str, Callable[..., Any]]:
    """The helpers of the instance at ``url``."""
    rest = WordPressRest(url, client, str(API_KEY["password"]))

    async def wordpress_post_status(post_id: int) -> str:
        return str((await rest.post_or_page(post_id))["status"])

    async def wordpress_post_title(post_id: int) -> str:
        return str((await rest.post_or_page(post_id))["title"]["raw"])

    async def wordpress_comment_status(comment_id: int) -> str:
        comment = await rest.get(f"/wp/v2/comments/{int(comment_id)}")
        if comment is None:
            raise HelperError(f"no comment {comment_id}")
        return str(comment["status"])

    async def wordpress_user_role(login: str) -> str:
        for user in await rest.get("/wp/v2/users", search=login, per_page="100") or []:
            if user["username"] == login:
                return ", ".join(user["roles"])
        raise HelperError(f"no user {login!r}")

    async def wordpress_tag_names(post_id: int) -> str:
        tags = await rest.get("/wp/v2/tags", post=str(int(post_id)), per_page="100") or []
        return ", ".join(sorted(tag["name"] for tag in tags))

    async def wordpress_setting(name: str) -> str:
        settings: Mapping[str, Any] = await rest.get("/wp/v2/settings") or {}
        if name not in settings:
            raise HelperError(f"no setting {name!r}")
        return str(settings[name])

    helpers: dict[str, Callable[..., Any]] = {
        "wordpress_post_status": wordpress_post_status,
        "wordpress_post_title": wordpress_post_title,
        "wordpress_comment_status": wordpress_comment_status,
        "wordpress_user_role": wordpress_user_role,
        "wordpress_tag_names": wordpress_tag_names,
        "wordpress_setting": wordpress_setting,
    }
    return {name: _reporting(site, url, name, fn) for name, fn in helpers.items()}
