"""``python -m webserv_hello --data-dir DIR --port P``: serve the counter site."""

from __future__ import annotations

import argparse
import html
import json
import secrets
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

USER, PASSWORD = "ada", "lovelace"


class Site:
    def __init__(self, data_dir: Path) -> None:
        self.state = data_dir / "state.json"
        if not self.state.is_file():
            raise SystemExit(f"{data_dir} holds no state.json")

    def read(self) -> dict:
        return json.loads(self.state.read_text())

    def write(self, state: dict) -> None:
        self.state.write_text(json.dumps(state))


def handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _user(self) -> str | None:
            jar: SimpleCookie = SimpleCookie(self.headers.get("Cookie", ""))
            token = jar["hello_session"].value if "hello_session" in jar else None
            return site.read()["sessions"].get(token) if token else None

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                return self._send(200, "ok")
            if self.path == "/":
                state, user = site.read(), self._user()
                who = f"Signed in as {html.escape(user)}" if user else "Not signed in"
                return self._send(
                    200,
                    "<!doctype html><title>Counter</title><h1>Counter</h1>"
                    f"<p>{who}</p><p>Count: <span id='count'>{state['count']}</span></p>"
                    "<form method='post' action='/increment'><button>Increment</button></form>"
                    "<a href='/about'>About</a>",
                )
            if self.path == "/about":
                return self._send(200, "<!doctype html><title>About</title><p>A counter.</p>")
            return self._send(404, "<!doctype html><title>Not found</title>")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            state = site.read()
            if self.path == "/increment":
                state["count"] += 1
                site.write(state)
                return self._send(303, "", {"Location": "/"})
            if self.path == "/reset":
                state["count"] = state["start"]
                site.write(state)
                return self._send(200, "reset")
            if self.path == "/login":
                if (form.get("username"), form.get("password")) != (USER, PASSWORD):
                    return self._send(401, "wrong login")
                token = secrets.token_hex(8)
                state["sessions"][token] = USER
                site.write(state)
                cookie = f"hello_session={token}; Path=/; HttpOnly"
                return self._send(303, "", {"Location": "/", "Set-Cookie": cookie})
            return self._send(404, "")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m webserv_hello")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), handler(Site(args.data_dir)))
    server.serve_forever()


if __name__ == "__main__":
    main()
