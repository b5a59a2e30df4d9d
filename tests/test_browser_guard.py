"""The URL guard's decisions and the route pattern that spares allowed requests a round trip."""

from __future__ import annotations

import pytest

from webserv.browser.guard import UrlGuard

GUARD = UrlGuard(["127.0.0.1:8000", "localhost"])


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8000/cart?x=1", True),
        ("http://127.0.0.1:8000", True),
        ("https://LOCALHOST:9/a", True),
        ("http://localhost/", True),
        ("data:text/plain,hi", True),
        ("http://127.0.0.1:8001/", False),
        ("http://127.0.0.1:80001/", False),
        ("http://127.0.0.1:8000.example/", False),
        ("http://localhost.example/", False),
        ("ftp://localhost/", False),
        ("http://example.com/", False),
    ],
)
def test_allows_only_the_given_hosts(url: str, allowed: bool):
    assert GUARD.allows(url) is allowed
    # The route sees every URL the guard blocks (and may see a few it then lets through).
    if not allowed and not url.startswith("data:"):
        assert GUARD.pattern().search(url)
    if url.startswith("http") and allowed:
        assert not GUARD.pattern().search(url)


def test_a_guard_without_hosts_routes_everything():
    assert UrlGuard([]).pattern().search("http://127.0.0.1:8000/")
