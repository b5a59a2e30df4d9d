"""Logging in over HTTP: a login form's CSRF field and cookie go with the post, as with
Magento's form_key and GitLab's authenticity_token; the shared client keeps no cookies."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from webserv.env.login import LoginError, log_in, session_client
from webserv.sites.spec import Login

LOGIN_PAGE = """<html><body>
<form id="search" action="/search"><input type="hidden" name="q" value="x"></form>
<form action="/customer/account/loginPost/" method="post">
  <input type="hidden" name="form_key" value="k123">
  <input name="login[username]"><input type="password" name="login[password]">
</form></body></html>"""

MAGENTO = Login(
    role="customer",
    username="emma",
    password="pw",
    login_path="/customer/account/login/",
    form={"login[username]": "{username}", "login[password]": "{password}"},
)


def magento(request: httpx.Request) -> httpx.Response:
    if request.method == "GET":
        return httpx.Response(200, text=LOGIN_PAGE, headers={"Set-Cookie": "PHPSESSID=a; Path=/"})
    form = dict(httpx.QueryParams(request.content.decode()))
    fine = (
        request.url.path == "/customer/account/loginPost/"
        and form == {"form_key": "k123", "login[username]": "emma", "login[password]": "pw"}
        and request.headers.get("cookie") == "PHPSESSID=a"
    )
    if not fine:
        return httpx.Response(403)
    return httpx.Response(302, headers={"Set-Cookie": "PHPSESSID=b; Path=/; HttpOnly"})


async def test_form_login_sends_the_pages_csrf_field_and_cookie():
    async with session_client(transport=httpx.MockTransport(magento)) as client:
        credentials = await log_in(client, "http://127.0.0.1:7770", MAGENTO)
        assert [(c["name"], c["value"]) for c in credentials.cookies] == [("PHPSESSID", "b")]
        assert credentials.cookies[0]["domain"] == "127.0.0.1"
        assert not client.cookies  # nothing kept for the next instance's login


async def test_a_refused_login_says_who_and_where():
    refuse = httpx.MockTransport(lambda request: httpx.Response(401))
    async with session_client(transport=refuse) as client:
        with pytest.raises(LoginError, match=r"customer \(emma\) at .* HTTP 401"):
            await log_in(client, "http://127.0.0.1:7770", MAGENTO)


async def test_a_login_form_answered_again_is_a_refused_login():
    """Redmine answers a wrong password with 200, its form again and a new anonymous
    session cookie: that is a refusal, not a session."""

    def form_again(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=LOGIN_PAGE, headers={"Set-Cookie": "s=anon; Path=/"})

    async with session_client(transport=httpx.MockTransport(form_again)) as client:
        with pytest.raises(LoginError, match="HTTP 200, the login form came back"):
            await log_in(client, "http://127.0.0.1:7770", MAGENTO)


async def test_cookie_and_header_logins_need_no_request():
    async with session_client() as client:
        by_cookie = Login(role="r", method="cookie", cookies={"token": "t"})
        credentials = await log_in(client, "http://127.0.0.1:1", by_cookie)
        assert credentials.cookies[0]["name"] == "token"
        by_header = Login(role="r", method="header", headers={"Authorization": "Bearer t"})
        assert (await log_in(client, "http://127.0.0.1:1", by_header)).headers == {
            "Authorization": "Bearer t"
        }


async def test_logins_survive_a_server_that_drops_idle_connections():
    """A server that answers one request per connection and drops any later one unanswered,
    as an instance does when its idle timeout meets a reused connection: the login's page
    read and form post each get a connection of their own."""
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: PHPSESSID=a; Path=/\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(LOGIN_PAGE), LOGIN_PAGE.encode()),
        b"HTTP/1.1 302 Found\r\nSet-Cookie: PHPSESSID=b; Path=/\r\nContent-Length: 0\r\n\r\n",
    ]

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        writer.write(answers.pop(0))
        await writer.drain()
        await reader.read(1)  # a second request on this connection: dropped unanswered
        writer.close()

    server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, session_client() as client:
        credentials = await log_in(client, f"http://127.0.0.1:{port}", MAGENTO)
    assert [c["value"] for c in credentials.cookies] == ["b"]
