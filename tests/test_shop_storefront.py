"""The shop's storefront, in process and over real HTTP."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient


def test_health_in_process(shop_client: TestClient) -> None:
    assert shop_client.get("/healthz").json() == {"status": "ok"}


def test_health_over_http(shop_server: str) -> None:
    assert httpx.get(f"{shop_server}/healthz").status_code == 200
