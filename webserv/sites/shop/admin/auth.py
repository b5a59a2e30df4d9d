"""Admin sign-in: the login page, sessions in the ``sessions`` table, the guard on every page."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from webserv.sites.shop import db
from webserv.sites.shop.admin.common import SESSION_COOKIE, render_admin
from webserv.sites.shop.security import new_token, verify_password

SESSION_TTL = timedelta(hours=8)
HOME = "/admin/dashboard"
COOKIE_PATH = "/admin"
MAX_USERNAME = 100
MAX_PASSWORD = 1000
MAX_NEXT = 2000

router = APIRouter()


@dataclass(frozen=True)
class Admin:
    """The signed-in administrator."""

    id: int
    username: str
    name: str


def _session_admin(data_dir: Path, token: str) -> Admin | None:
    conn = db.connect(data_dir)
    try:
        row = conn.execute(
            "SELECT a.id, a.username, a.name FROM sessions s JOIN admins a ON a.id = s.admin_id"
            " WHERE s.token = ? AND s.expires_at > ?",
            (token, db.now()),
        ).fetchone()
    finally:
        conn.close()
    return Admin(row["id"], row["username"], row["name"]) if row else None


async def signed_in_admin(request: Request) -> Admin | None:
    """The admin whose session cookie came with ``request``, if it is valid and unexpired."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    return await run_in_threadpool(_session_admin, request.app.state.data_dir, token)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a page of this admin, never another site."""
    if (
        target
        and len(target) <= MAX_NEXT
        and target.startswith("/admin")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return HOME


def return_target(request: Request) -> str:
    """The page to come back to after signing in: the one asked for or, since a form post
    cannot be replayed, the page the form was on."""
    url: Any = request.url
    if request.method != "GET":
        url = urlsplit(request.headers.get("referer", ""))
        if url.netloc != request.url.netloc:
            return HOME
    return url.path + (f"?{url.query}" if url.query else "")


class AdminRoute(APIRoute):
    """A route only a signed-in admin may use; anyone else is sent to the login page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            admin = await signed_in_admin(request)
            if admin is None:
                login = f"/admin/login?{urlencode({'next': safe_next(return_target(request))})}"
                return RedirectResponse(login, status_code=303)
            request.state.admin = admin
            return await handler(request)

        return guarded


def current_admin(request: Request) -> Admin:
    """Dependency: the admin the guard found (only on routes using ``AdminRoute``)."""
    return request.state.admin


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = HOME) -> Response:
    if await signed_in_admin(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render_admin(request, "login.html", next=safe_next(next), username="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form(HOME),
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    username = username.strip()
    target = safe_next(next)
    admin_id, problem, status = None, None, 200
    if not username or not password:
        problem, status = "Enter both your username and your password.", 400
    elif len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        problem, status = "The username or password is too long.", 400
    else:
        row = conn.execute(
            "SELECT id, password_hash FROM admins WHERE username = ?", (username,)
        ).fetchone()
        if row is not None and verify_password(password, row["password_hash"]):
            admin_id = row["id"]
        else:
            problem, status = "The username or password is incorrect. Please try again.", 401
    if admin_id is None:
        return render_admin(
            request,
            "login.html",
            status_code=status,
            error=problem,
            next=target,
            username=username[:MAX_USERNAME],
        )
    started = datetime.now(UTC)
    token = new_token()
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (db.now(),))
    conn.execute(
        "INSERT INTO sessions (token, admin_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (
            token,
            admin_id,
            started.strftime("%Y-%m-%d %H:%M:%S"),
            (started + SESSION_TTL).strftime("%Y-%m-%d %H:%M:%S"),
        ),
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/logout")
def logout(
    request: Request, conn: sqlite3.Connection = Depends(db.get_db, scope="function")
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        conn.execute("DELETE FROM sessions WHERE token = ? AND admin_id IS NOT NULL", (token,))
    response = RedirectResponse("/admin/login?msg=logged_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
    return response
