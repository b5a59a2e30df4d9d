"""WebArena's ``func:`` helpers as the WebArena site plugins provide them.

WebArena's applications (Magento, Postmill, GitLab: images of tens of GB) cannot run here,
so the shopping helpers are checked against recorded answers of Magento 2.4's REST API (an
``httpx.MockTransport`` that also checks each request: path, query, bearer token), the
GitLab helper against a fake page whose JS evaluations answer from a script, and the Reddit
helper is a pure function of its URL. The Reddit site's login form is checked against a
recorded Postmill login page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from webserv.env.login import log_in, session_client
from webserv.sites import registry
from webserv.sites.webarena.helpers import HelperError, reddit_get_post_url
from webserv.tasks.evaluators import call_helper

SHOP = "http://127.0.0.1:7770"
TOKEN = "kf4m8yq0x3u2pc1lb9so6e7wtvzjrnhd"

ORDER_QUERY = {
    "searchCriteria[sortOrders][0][field]": "created_at",
    "searchCriteria[sortOrders][0][direction]": "DESC",
    "searchCriteria[pageSize]": "1",
}

#: GET /rest/V1/orders?searchCriteria... as Magento 2.4 answers it (an order trimmed to the
#: fields around the one read).
ORDERS = {
    "items": [
        {
            "base_currency_code": "USD",
            "created_at": "2023-06-12 19:02:11",
            "customer_email": "emma.lopez@gmail.com",
            "customer_firstname": "Emma",
            "customer_lastname": "Lopez",
            "entity_id": 309,
            "grand_total": 33.99,
            "increment_id": "000000309",
            "state": "new",
            "status": "pending",
            "items": [{"sku": "B07DFJ5XKH", "qty_ordered": 1, "price": 28.99}],
        }
    ],
    "search_criteria": {
        "filter_groups": [],
        "sort_orders": [{"field": "created_at", "direction": "DESC"}],
        "page_size": 1,
    },
    "total_count": 309,
}


def review(review_id: int, nickname: str, percent: int, rating_name: str = "Rating") -> dict:
    """One entry of GET /rest/V1/products/{sku}/reviews."""
    return {
        "id": review_id,
        "title": "Works as described",
        "detail": "Arrived quickly.",
        "nickname": nickname,
        "ratings": [
            {
                "vote_id": review_id * 10,
                "rating_id": 4,
                "rating_name": rating_name,
                "percent": percent,
                "value": percent // 20,
            }
        ],
        "review_entity": "product",
        "review_type": 2,
        "review_status": 1,
        "created_at": "2023-06-12 19:10:42",
        "updated_at": "2023-06-12 19:10:42",
        "stores": [1],
        "store_id": 1,
    }


REVIEWS = {
    "B00J8RZL7I": [review(301, "Kelly", 60), review(352, "Emma Lopez", 100)],
    "B07HZB38XH": [],
    "B0041MSF2S": [review(12, "Sam", 80, rating_name="Quality"), review(13, "Ann", 40)],
}


class Magento:
    """A recorded Magento REST API: checks what WebArena's helpers send, logs each request."""

    def __init__(self, token_status: int = 200, orders: dict | None = None) -> None:
        self.token_status = token_status
        self.orders = ORDERS if orders is None else orders
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/rest/default/V1/integration/admin/token":
            assert request.method == "POST"
            assert request.headers["content-type"] == "application/json"
            assert json.loads(request.content) == {"username": "admin", "password": "admin1234"}
            if self.token_status != 200:
                message = "The account sign-in was incorrect or your account is disabled."
                return httpx.Response(self.token_status, json={"message": message})
            return httpx.Response(200, json=TOKEN)
        assert request.method == "GET"
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        if path == "/rest/V1/orders":
            assert dict(request.url.params) == ORDER_QUERY
            return httpx.Response(200, json=self.orders)
        sku = path.removeprefix("/rest/V1/products/").removesuffix("/reviews")
        if sku in REVIEWS:
            assert not request.url.params
            return httpx.Response(200, json=REVIEWS[sku])
        return httpx.Response(404, json={"message": "The requested product doesn't exist."})


def shopping_helpers(magento: Magento) -> tuple[dict[str, Callable[..., Any]], httpx.AsyncClient]:
    client = session_client(transport=httpx.MockTransport(magento))
    return dict(registry.get("shopping").evaluator_helpers(SHOP + "/", client)), client


async def test_latest_order_url_is_the_newest_orders_view_page():
    magento = Magento()
    helpers, client = shopping_helpers(magento)
    async with client:
        url = await helpers["shopping_get_latest_order_url"]()
    # The order number as an integer, under the instance's own base URL.
    assert url == f"{SHOP}/sales/order/view/order_id/309/"
    assert [(r.method, r.url.path) for r in magento.requests] == [
        ("POST", "/rest/default/V1/integration/admin/token"),
        ("GET", "/rest/V1/orders"),
    ]


async def test_latest_review_author_and_rating_are_the_last_reviews():
    magento = Magento()
    helpers, client = shopping_helpers(magento)
    async with client:
        author = await helpers["shopping_get_sku_latest_review_author"]("B00J8RZL7I")
        rating = await helpers["shopping_get_sku_latest_review_rating"]("B00J8RZL7I")
        none = [
            await helpers["shopping_get_sku_latest_review_author"]("B07HZB38XH"),
            await helpers["shopping_get_sku_latest_review_rating"]("B07HZB38XH"),
        ]
    assert (author, rating, none) == ("Emma Lopez", "100", ["", ""])
    # A fresh admin token for every call, as WebArena fetches one.
    paths = [r.url.path for r in magento.requests]
    assert paths.count("/rest/default/V1/integration/admin/token") == 4
    assert paths.count("/rest/V1/products/B00J8RZL7I/reviews") == 2


async def test_a_rating_on_another_scale_than_rating_is_refused():
    helpers, client = shopping_helpers(Magento())
    async with client:
        with pytest.raises(HelperError, match="rated on 'Quality'"):
            await helpers["shopping_get_sku_latest_review_rating"]("B0041MSF2S")
        # The author does not depend on the rating.
        assert await helpers["shopping_get_sku_latest_review_author"]("B0041MSF2S") == "Ann"


@pytest.mark.parametrize(
    ("magento", "call", "problem"),
    [
        (Magento(token_status=401), ("shopping_get_latest_order_url",), "HTTP 401"),
        (Magento(orders={**ORDERS, "items": []}), ("shopping_get_latest_order_url",), "no orders"),
        (Magento(), ("shopping_get_sku_latest_review_author", "NOPE"), "HTTP 404"),
    ],
)
async def test_a_failing_shopping_helper_names_itself_and_its_site(magento, call, problem):
    helpers, client = shopping_helpers(magento)
    name, *args = call
    async with client:
        with pytest.raises(HelperError) as raised:
            await helpers[name](*args)
    message = str(raised.value)
    assert f"func: helper {name} of site shopping at {SHOP}/" in message
    assert problem in message


async def test_an_unreachable_store_names_the_helper_and_site():
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = session_client(transport=httpx.MockTransport(down))
    helpers = registry.get("shopping").evaluator_helpers(SHOP, client)
    async with client:
        with pytest.raises(HelperError, match="shopping_get_latest_order_url of site shopping"):
            await helpers["shopping_get_latest_order_url"]()


@pytest.mark.parametrize(
    ("url", "post"),
    [
        # A post, with its slug: the slug goes.
        (
            "http://127.0.0.1:9999/f/books/59421/friendly-reminder-bookshop-org-exists",
            "http://127.0.0.1:9999/f/books/59421/",
        ),
        # A comment's permalink: the post it is on.
        (
            "http://127.0.0.1:9999/f/books/59421/-/comment/1235250",
            "http://127.0.0.1:9999/f/books/59421/",
        ),
        # A query goes too; the scheme and port stay.
        ("https://forum:9999/f/news/129508/?sort=new", "https://forum:9999/f/news/129508/"),
        ("http://127.0.0.1:9999/f/books/59421", "http://127.0.0.1:9999/f/books/59421/"),
        # Not a post: as it is.
        ("http://127.0.0.1:9999/f/books", "http://127.0.0.1:9999/f/books"),
        (
            "http://127.0.0.1:9999/user/MarvelsGrantMan136",
            "http://127.0.0.1:9999/user/MarvelsGrantMan136",
        ),
        ("http://127.0.0.1:9999/", "http://127.0.0.1:9999/"),
        # WebArena's quirk, kept: a forum URL with a trailing slash has an empty "id".
        ("http://127.0.0.1:9999/f/books/", "http://127.0.0.1:9999/f/books//"),
    ],
)
def test_reddit_post_url(url: str, post: str):
    assert reddit_get_post_url(url) == post


async def test_reddit_helper_comes_with_the_reddit_site():
    async with session_client() as client:
        helpers = registry.get("reddit").evaluator_helpers("http://127.0.0.1:9999", client)
        post = await helpers["reddit_get_post_url"]("http://127.0.0.1:9999/f/books/59421/x")
    assert post == "http://127.0.0.1:9999/f/books/59421/"


class ScriptedPage:
    """A page whose JS evaluations answer from a script (an exception: the JS threw)."""

    url = "http://127.0.0.1:8023/a11yproject/a11yproject.com/-/project_members"

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.expressions: list[str] = []

    async def content(self) -> str:
        return "<html></html>"

    async def evaluate(self, expression: str) -> Any:
        self.expressions.append(expression)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def gitlab_role(page: ScriptedPage, account: str) -> str:
    async with session_client() as client:
        helpers = registry.get("gitlab").evaluator_helpers("http://127.0.0.1:8023", client)
        return await helpers["gitlab_get_project_memeber_role"](page, account)


async def test_gitlab_member_role_is_read_off_the_members_page():
    page = ScriptedPage(2, "Developer")
    assert await gitlab_role(page, "yjlou") == "Developer"
    find, read = page.expressions
    assert find.startswith("() =>") and '=== "@yjlou"' in find
    assert "td[data-label='Account'] span.gl-avatar-labeled-sublabel" in find
    assert read == '() => document.querySelectorAll("td.col-max-role span")[2].outerText'


@pytest.mark.parametrize(
    "answers",
    [
        # Not a member: row -1 does not exist, so reading its role throws.
        (-1, RuntimeError("TypeError: Cannot read properties of undefined")),
        (RuntimeError("Execution context was destroyed"),),
        (0, RuntimeError("Target page, context or browser has been closed")),
    ],
)
async def test_gitlab_member_role_is_empty_when_the_page_cannot_say(answers):
    assert await gitlab_role(ScriptedPage(*answers), "koush") == ""


async def test_each_site_provides_the_helpers_of_its_tasks():
    async with session_client() as client:
        provided = {
            name: sorted(registry.get(name).evaluator_helpers("http://127.0.0.1:1", client))
            for name in ("shopping", "shopping_admin", "gitlab", "reddit")
        }
    assert provided == {
        "shopping": [
            "shopping_get_latest_order_url",
            "shopping_get_sku_latest_review_author",
            "shopping_get_sku_latest_review_rating",
        ],
        # No WebArena task on shopping_admin calls a helper.
        "shopping_admin": [],
        "gitlab": ["gitlab_get_project_memeber_role"],
        "reddit": ["reddit_get_post_url"],
    }


#: Postmill's /login page as it serves it: a Symfony form login with a CSRF token.
POSTMILL_LOGIN = """<html><body>
<form action="/search" method="get"><input type="search" name="q"></form>
<form action="/login_check" method="post" class="form">
  <input type="hidden" name="_csrf_token" value="Qx7b1c">
  <input type="text" name="_username" id="login-username" required>
  <input type="password" name="_password" id="login-password" required>
  <input type="checkbox" name="_remember_me" id="login-remember-me">
  <button type="submit">Log in</button>
</form></body></html>"""


async def test_reddit_logs_in_with_postmills_form():
    def postmill(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.path == "/login"
            return httpx.Response(
                200, text=POSTMILL_LOGIN, headers={"Set-Cookie": "PHPSESSID=anon; path=/"}
            )
        assert request.url.path == "/login_check"
        assert dict(httpx.QueryParams(request.content.decode())) == {
            "_csrf_token": "Qx7b1c",
            "_username": "MarvelsGrantMan136",
            "_password": "test1234",
        }
        return httpx.Response(302, headers={"Set-Cookie": "PHPSESSID=user; path=/; httponly"})

    site = registry.get("reddit")
    assert site.served_names()["reddit"].role == "user"
    (login,) = site.spec.logins
    async with session_client(transport=httpx.MockTransport(postmill)) as client:
        credentials = await log_in(client, "http://127.0.0.1:9999", login)
    assert [(c["name"], c["value"]) for c in credentials.cookies] == [("PHPSESSID", "user")]


async def test_task_expressions_reach_the_helpers_through_the_evaluator():
    page = ScriptedPage(0, "Maintainer")
    async with session_client(transport=httpx.MockTransport(Magento())) as client:
        helpers = {
            **registry.get("shopping").evaluator_helpers(SHOP, client),
            **registry.get("gitlab").evaluator_helpers("http://127.0.0.1:8023", client),
        }
        role = await call_helper(
            "func:gitlab_get_project_memeber_role(__page__, 'abisubramanya27')", helpers, page
        )
        rating = await call_helper(
            "func:shopping_get_sku_latest_review_rating('B00J8RZL7I')", helpers
        )
    assert (role, rating) == ("Maintainer", "100")
    assert '"@abisubramanya27"' in page.expressions[0]
