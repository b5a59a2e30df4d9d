"""The URL guard's decisions, its proxy settings and the port that refuses what it blocks."""

from __future__ import annotations

import socket

import pytest

from webserv.browser.guard import ClosedPort, UrlGuard

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


def test_proxy_bypasses_only_the_allowed_hosts():
    closed = ClosedPort()
    try:
        proxy = GUARD.proxy(closed)
        # Without "<-loopback>" Chromium would reach every local port directly.
        assert proxy == {"server": closed.url, "bypass": "<-loopback>,127.0.0.1:8000,localhost"}
        port = int(closed.url.rsplit(":", 1)[1])
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
            pass
    finally:
        closed.close()


@pytest.mark.parametrize("entry", ["evil.com,localhost", "host;x", "http://host", "a b"])
def test_a_malformed_host_is_refused(entry: str):
    with pytest.raises(ValueError, match="is not a host or host:port"):
        UrlGuard([entry])
