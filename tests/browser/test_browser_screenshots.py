"""Screenshots in the format, quality and size asked, timed per observation, and only when
asked; the prompt, the run directory and the HTTP schema take every format."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from webserv.browser.screenshot import image_format
from webserv.browser.session import BrowserPool, SessionConfig
from webserv.policy.prompt import image_tokens
from webserv.rollout.records import RunWriter
from webserv.wire import EnvOptions


def size(image: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(image)) as opened:
        return opened.size


@pytest.mark.browser
@pytest.mark.parametrize(
    ("kind", "scale", "som"),
    [("png", 1.0, False), ("jpeg", 1.0, True), ("webp", 0.5, False), ("jpeg", 0.5, True)],
)
async def test_screenshot_as_configured(
    browser_pool: BrowserPool, pages_url: str, kind: str, scale: float, som: bool
):
    config = SessionConfig(screenshot=True, screenshot_format=kind, screenshot_scale=scale, som=som)
    session = await browser_pool.new_session(config=config)
    try:
        obs = await session.start(f"{pages_url}/basic.html")
        timings = session.timings
        # Scrolled, a scaled screenshot still shows the viewport, not the page's top.
        await session.step('scroll("down")')
        scrolled = await session.observe()
        plain = await session.observe(screenshot=False)
    finally:
        await session.close()
    assert obs.screenshot is not None and image_format(obs.screenshot) == kind
    width, height = config.viewport_width * scale, config.viewport_height * scale
    assert size(obs.screenshot) == (round(width), round(height))
    assert scrolled.screenshot is not None and size(scrolled.screenshot) == size(obs.screenshot)
    assert timings.screenshot_ms > 0 and 0 <= timings.screenshot_wait_ms <= timings.screenshot_ms
    assert plain.screenshot is None and session.timings.screenshot_ms == 0
    assert image_tokens(obs.screenshot) > 0


def test_jpeg_is_smaller_than_png_and_every_format_is_filed(tmp_path: Path):
    image = Image.new("RGB", (320, 200), "white")
    encoded = {}
    for kind in ("png", "jpeg", "webp"):
        out = io.BytesIO()
        image.save(out, format=kind.upper())
        encoded[kind] = out.getvalue()
    writer = RunWriter(tmp_path)
    try:
        paths = {kind: writer.screenshot("s", 0, data) for kind, data in encoded.items()}
    finally:
        writer.close()
    assert paths == {
        "png": "screenshots/s/000.png",
        "jpeg": "screenshots/s/000.jpg",
        "webp": "screenshots/s/000.webp",
    }
    # 320 x 200 is 12 x 8 patches of 28 pixels, whatever the format.
    assert {image_tokens(data) for data in encoded.values()} == {96}
    with pytest.raises(ValueError, match="not a PNG, JPEG or WebP"):
        image_format(b"GIF89a")
    options = EnvOptions.model_validate(
        {"screenshot": True, "screenshot_format": "webp", "screenshot_scale": 0.5}
    )
    assert options.screenshot_format == "webp" and options.screenshot_quality == 80
