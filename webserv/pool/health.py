"""Health probing: an instance is ready when its health URL answers with a status < 400."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx


class NotReady(RuntimeError):
    """An instance did not become healthy in time, or died while starting."""


async def healthy(client: httpx.AsyncClient, url: str, timeout_s: float = 2.0) -> bool:
    """Whether ``url`` answers < 400 within ``timeout_s``."""
    try:
        response = await client.get(url, timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return response.status_code < 400


async def wait_healthy(
    client: httpx.AsyncClient,
    url: str,
    timeout_s: float,
    alive: Callable[[], Awaitable[bool]] | None = None,
    interval_s: float = 0.005,
) -> float:
    """Poll ``url`` until it answers < 400; return the seconds it took.

    ``alive`` is checked between polls so a crashed instance fails fast instead of
    running into the timeout.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    while True:
        if await healthy(client, url):
            return loop.time() - began
        if alive is not None and not await alive():
            raise NotReady(f"{url}: the instance exited while starting")
        if loop.time() - began > timeout_s:
            raise NotReady(f"{url} not healthy after {timeout_s:.0f} s")
        await asyncio.sleep(interval_s)
