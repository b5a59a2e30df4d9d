"""WebArena's ``func:`` evaluator helpers, bound to one instance of a WebArena site.

Each behaves as the helper of the same name in WebArena's evaluation harness
(``evaluation_harness/helper_functions.py``), observably: the same requests, the same
answers, the same quirks.

- ``shopping_get_latest_order_url()`` and ``shopping_get_sku_latest_review_author`` /
  ``..._rating(sku)`` read the storefront's Magento REST API as its admin (WebArena's
  ``shopping_site_admin`` account, an admin bearer token fetched for every call).
- ``reddit_get_post_url(url)`` trims a Postmill post or comment URL to the post's URL.
- ``gitlab_get_project_memeber_role(page, account)`` (WebArena's spelling) reads a member's
  role off the project members page being checked; any failure reads as "".

A helper that cannot answer raises :class:`HelperError`, which names the helper and the
site instance it read.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote, urlparse

import httpx

#: WebArena's ``shopping_site_admin``: the admin of the storefront image's own Magento.
SHOPPING_SITE_ADMIN = {"username": "admin", "password": "admin1234"}

#: WebArena asks for the newest order only.
LATEST_ORDER_QUERY = {
    "searchCriteria[sortOrders][0][field]": "created_at",
    "searchCriteria[sortOrders][0][direction]": "DESC",
    "searchCriteria[pageSize]": "1",
}

Helper = Callable[..., Awaitable[str]]


class HelperError(RuntimeError):
    """A ``func:`` helper could not answer; the message names the helper and the site."""


class Page(Protocol):
    """The page a ``__page__`` argument stands for (only what the helpers use)."""

    async def evaluate(self, expression: str) -> Any:
        """Run a JS function (``() => ...``) in the page; raise if it throws."""
        ...


def _reporting(site: str, url: str, name: str, function: Callable[..., Any]) -> Helper:
    """``function`` as a helper whose failures say which helper of which site failed."""

    async def helper(*args: Any) -> str:
        try:
            result = function(*args)
            if inspect.isawaitable(result):
                result = await result
        except Exception as err:
            raise HelperError(f"func: helper {name} of site {site} at {url} failed: {err}") from err
        return result

    return helper


class MagentoRest:
    """The REST API of one Magento instance, read as WebArena's shopping helpers read it."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/")
        self.client = client

    async def admin_token(self) -> str:
        response = await self.client.post(
            f"{self.url}/rest/default/V1/integration/admin/token",
            json=SHOPPING_SITE_ADMIN,
        )
        token = _json(response)
        if not isinstance(token, str):
            raise ValueError(f"the admin token endpoint answered {token!r}, not a token")
        return token

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        headers = {
            "Authorization": f"Bearer {await self.admin_token()}",
            "Content-Type": "application/json",
        }
        return _json(await self.client.get(f"{self.url}{path}", params=params, headers=headers))

    async def latest_order_url(self) -> str:
        orders = await self.get("/rest/V1/orders", LATEST_ORDER_QUERY)
        if not orders.get("items"):
            raise ValueError("the store has no orders")
        # WebArena puts the order number into the view URL as an integer ("000000191" -> 191).
        order = int(orders["items"][0]["increment_id"])
        return f"{self.url}/sales/order/view/order_id/{order}/"

    async def reviews(self, sku: str) -> list[dict[str, Any]]:
        reviews = await self.get(f"/rest/V1/products/{quote(sku, safe='')}/reviews")
        if not isinstance(reviews, list):
            raise ValueError(f"the reviews of {sku} are {type(reviews).__name__}, not a list")
        return reviews

    async def sku_latest_review_author(self, sku: str) -> str:
        reviews = await self.reviews(sku)
        return str(reviews[-1]["nickname"]) if reviews else ""

    async def sku_latest_review_rating(self, sku: str) -> str:
        reviews = await self.reviews(sku)
        if not reviews:
            return ""
        # WebArena checks the first review's rating is the store's single "Rating" (not
        # e.g. "Quality"), then reads the last review's percentage.
        first = reviews[0]["ratings"][0]["rating_name"]
        if first != "Rating":
            raise ValueError(f"the first review of {sku} is rated on {first!r}, not 'Rating'")
        return str(reviews[-1]["ratings"][0]["percent"])


def _json(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise ValueError(
            f"{response.request.method} {response.request.url.path} answered "
            f"HTTP {response.status_code}: {response.text[:200]}"
        )
    return response.json()


def reddit_get_post_url(url: str) -> str:
    """The post URL of a Postmill post or comment URL (``/f/FORUM/ID/...``); any other URL
    as it is. Like WebArena's, it keeps nothing after the id, not even a query."""
    parts = urlparse(url)
    segments = parts.path.split("/")
    if len(segments) < 4 or segments[1] != "f":
        return url
    return f"{parts.scheme}://{parts.netloc}/f/{segments[2]}/{segments[3]}/"


#: The row of ``@account`` among the members listed on a GitLab project members page.
_MEMBER_INDEX_JS = """() => {
    const accounts = document.querySelectorAll(
        "td[data-label='Account'] span.gl-avatar-labeled-sublabel");
    for (let i = 0; i < accounts.length; i++) {
        if (accounts[i].outerText === %s) return i;
    }
    return -1;
}"""
#: The role shown in row ``index`` (row -1 does not exist: the read throws).
_MEMBER_ROLE_JS = """() => document.querySelectorAll("td.col-max-role span")[%d].outerText"""


async def gitlab_get_project_member_role(page: Page, account_name: str) -> str:
    """The role of ``account_name`` on the GitLab project members page ``page`` shows; ""
    when it is not listed or the page cannot be read (WebArena swallows every error)."""
    try:
        index = await page.evaluate(_MEMBER_INDEX_JS % json.dumps(f"@{account_name}"))
        role = await page.evaluate(_MEMBER_ROLE_JS % int(index))
    except Exception:
        return ""
    return "" if role is None else str(role)


def shopping_helpers(site: str, url: str, client: httpx.AsyncClient) -> dict[str, Helper]:
    """The shopping helpers, reading the Magento instance at ``url``."""
    rest = MagentoRest(url, client)
    functions: dict[str, Callable[..., Any]] = {
        "shopping_get_latest_order_url": rest.latest_order_url,
        "shopping_get_sku_latest_review_author": rest.sku_latest_review_author,
        "shopping_get_sku_latest_review_rating": rest.sku_latest_review_rating,
    }
    return {name: _reporting(site, url, name, f) for name, f in functions.items()}


def reddit_helpers(site: str, url: str) -> dict[str, Helper]:
    name = "reddit_get_post_url"
    return {name: _reporting(site, url, name, reddit_get_post_url)}


def gitlab_helpers(site: str, url: str) -> dict[str, Helper]:
    name = "gitlab_get_project_memeber_role"  # sic: the name WebArena's tasks call
    return {name: _reporting(site, url, name, gitlab_get_project_member_role)}
