"""Screenshots at the cost they need: the viewport as PNG, JPEG or WebP, optionally scaled.

One DevTools ``Page.captureScreenshot`` call per shot: Playwright's own screenshot knows PNG
and JPEG only and adds waits of its own (fonts, caret), while the observation has already
waited for the page to settle. ``optimizeForSpeed`` lets Chromium pick its fastest encoder
settings; a scale below 1 shrinks the image in the browser, so fewer bytes are encoded,
sent and stored.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # the wire schemas use the format names without loading Playwright
    from playwright.async_api import CDPSession, Page

ScreenshotFormat = Literal["png", "jpeg", "webp"]


class ScreenshotOptions(BaseModel):
    """Whether observations carry a screenshot, and in what form: a session's settings and an
    HTTP env's options alike."""

    screenshot: bool = Field(False, description="Attach a screenshot to every observation.")
    screenshot_format: ScreenshotFormat = Field(
        "png", description="png (lossless), jpeg or webp (smaller, cheaper to encode)."
    )
    screenshot_quality: int = Field(80, ge=1, le=100, description="JPEG and WebP quality.")
    screenshot_scale: float = Field(
        1.0, gt=0, le=1, description="Image size relative to the viewport (0.5: half width)."
    )


#: Media type of each format, as data URLs and HTTP responses name it.
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def image_format(data: bytes) -> ScreenshotFormat:
    """The format of an image from its first bytes (a screenshot carries no label)."""
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise ValueError("not a PNG, JPEG or WebP image")


class Screenshots:
    """Takes a session's screenshots; keeps one DevTools session per tab."""

    def __init__(self) -> None:
        self._sessions: dict[Page, CDPSession] = {}

    def _forget(self, page: Page) -> None:
        """Drop a closed page's DevTools session."""
        self._sessions.pop(page, None)

    async def take(self, page: Page, kind: ScreenshotFormat, quality: int, scale: float) -> bytes:
        """The visible part of ``page``; ``quality`` (1-100) applies to JPEG and WebP."""
        cdp = self._sessions.get(page)
        if cdp is None:
            cdp = self._sessions[page] = await page.context.new_cdp_session(page)
            page.once("close", self._forget)
        params: dict[str, Any] = {"format": kind, "optimizeForSpeed": True}
        if kind != "png":
            params["quality"] = quality
        if scale != 1:
            # A clip is in page coordinates: the viewport where it is scrolled to now.
            view = (await cdp.send("Page.getLayoutMetrics"))["cssVisualViewport"]
            params["clip"] = {
                "x": view["pageX"],
                "y": view["pageY"],
                "width": view["clientWidth"],
                "height": view["clientHeight"],
                "scale": scale,
            }
        shot = await cdp.send("Page.captureScreenshot", params)
        return base64.b64decode(shot["data"])

    def forget(self) -> None:
        """Drop the DevTools sessions (their context is closed or gone)."""
        self._sessions.clear()
