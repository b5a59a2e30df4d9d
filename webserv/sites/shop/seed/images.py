"""Product shots: PNG images drawn with Pillow, deterministic for a given :class:`Shot`.

A shot is a soft studio backdrop, a floor shadow, a product silhouette chosen by the
category (bottle, device, garment, ...) in the product's colour, and a faint grain so the
files have the weight of real photographs.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageChops, ImageDraw

SIZE = 480
GRAIN_CELLS = 60  # grain resolution before upscaling; sets the texture's (and file's) weight
PNG_LEVEL = 1  # fast zlib: the grain is what dominates the size anyway

RGB = tuple[int, int, int]
Box = tuple[float, float, float, float]


class Shot(NamedTuple):
    """Everything one image depends on."""

    path: Path
    shape: str
    color: RGB
    accent: RGB
    view: int  # 1 = front, 2 = close-up
    grain_seed: int


def _shade(color: RGB, delta: int) -> RGB:
    r, g, b = (max(0, min(255, c + delta)) for c in color)
    return (r, g, b)


def _bottle(d: ImageDraw.ImageDraw, box: Box, c: RGB, a: RGB) -> None:
    x0, y0, x1, y1 = box
    w = x1 - x0
    d.rounded_rectangle((x0 + w * 0.38, y0, x1 - w * 0.38, y0 + (y1 - y0) * 0.18), 6, fill=a)
    d.rounded_rectangle((x0 + w * 0.2, y0 + (y1 - y0) * 0.16, x1 - w * 0.2, y1), 28, fill=c)
    d.rectangle(
        (x0 + w * 0.24, y0 + (y1 - y0) * 0.45, x1 - w * 0.24, y0 + (y1 - y0) * 0.75),
        fill=(248, 246, 240),
    )
    d.rectangle((x0 + w * 0.3, y0 + (y1 - y0) * 0.52, x1 - w * 0.3, y0 + (y1 - y0) * 0.56), fill=a)


def _device(d: ImageDraw.ImageDraw, box: Box, c: RGB, a: RGB) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    d.rounded_rectangle((x0, y0 + h * 0.2, x1, y1 - h * 0.1), 36, fill=c)
    d.ellipse(
        (x0 + (x1 - x0) * 0.3, y0 + h * 0.3, x1 - (x1 - x0) * 0.3, y1 - h * 0.2),
        fill=_shade(c, -40),
        outline=a,
        width=8,
    )
    d.ellipse(
        (x0 + (x1 - x0) * 0.42, y0 + h * 0.42, x1 - (x1 - x0) * 0.42, y1 - h * 0.32),
        fill=_shade(c, 30),
    )


def _box(d: ImageDraw.ImageDraw, box: Box, c: RGB, a: RGB) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.polygon(
        [(x0, y0 + h * 0.25), (x0 + w * 0.25, y0), (x1, y0), (x1 - w * 0.25, y0 + h * 0.25)],
        fill=_shade(c, 35),
    )
    d.polygon(
        [(x1 - w * 0.25, y0 + h * 0.25), (x1, y0), (x1, y1 - h * 0.25), (x1 - w * 0.25, y1)],
        fill=_shade(c, -35),
    )
    d.rectangle((x0, y0 + h * 0.25, x1 - w * 0.25, y1), fill=c)
    d.rectangle((x0 + w * 0.08, y0 + h * 0.55, x1 - w * 0.33, y0 + h * 0.62), fill=a)


def _round(d: ImageDraw.ImageDraw, box: Box, c: RGB, a: RGB) -> None:
    x0, _, x1, y1 = box
    w = x1 - x0
    top = y1 - w
    d.ellipse((x0, top, x1, y1), fill=c)
    d.ellipse((x0 + w * 0.15, top + w * 0.12, x0 + w * 0.45, top + w * 0.4), fill=_shade(c, 45))
    d.arc((x0 + w * 0.1, top + w * 0.1, x1 - w * 0.1, top + w * 0.9), 200, 340, fill=a, width=10)


def _fabric(d: ImageDraw.ImageDraw, box: Box, c: RGB, a: RGB) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    for i in range(4):
        top = y0 + h * 0.3 + i * h * 0.14
        d.rounded_rectangle(
            (x0 + i * 6, top, x1 - i * 6, top + h * 0.18), 18, fill=_shade(c, 18 - 12 * i)
        )
    d.line((x0 + 20, y0 + h * 0.38, x1 - 20, y0 + h * 0.38), fill=a, width=4)


def _garment(d: ImageDraw.ImageDraw, box: Box, c: RGB, a: RGB) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.polygon(
        [
            (x0 + w * 0.3, y0),
            (x0, y0 + h * 0.2),
            (x0 + w * 0.1, y0 + h * 0.38),
            (x0 + w * 0.22, y0 + h * 0.32),
            (x0 + w * 0.22, y1),
            (x1 - w * 0.22, y1),
            (x1 - w * 0.22, y0 + h * 0.32),
            (x1 - w * 0.1, y0 + h * 0.38),
            (x1, y0 + h * 0.2),
            (x1 - w * 0.3, y0),
        ],
        fill=c,
    )
    d.chord((x0 + w * 0.36, y0 - h * 0.06, x1 - w * 0.36, y0 + h * 0.08), 0, 180, fill=a)
    d.line((x0 + w * 0.5, y0 + h * 0.08, x0 + w * 0.5, y1), fill=_shade(c, -30), width=3)


def _shoe(d: ImageDraw.ImageDraw, box: Box, c: RGB, a: RGB) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.polygon(
        [
            (x0, y1 - h * 0.15),
            (x0 + w * 0.05, y0 + h * 0.35),
            (x0 + w * 0.35, y0 + h * 0.3),
            (x0 + w * 0.55, y0 + h * 0.5),
            (x1, y0 + h * 0.62),
            (x1, y1 - h * 0.15),
        ],
        fill=c,
    )
    d.rectangle((x0, y1 - h * 0.17, x1, y1 - h * 0.05), fill=a)
    for i in range(4):
        x = x0 + w * (0.38 + i * 0.06)
        d.line(
            (x, y0 + h * 0.38 + i * 8, x + 18, y0 + h * 0.44 + i * 8), fill=(245, 245, 245), width=4
        )


def _vase(d: ImageDraw.ImageDraw, box: Box, c: RGB, a: RGB) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.ellipse((x0 + w * 0.05, y0 + h * 0.3, x1 - w * 0.05, y1), fill=c)
    d.rectangle((x0 + w * 0.32, y0 + h * 0.05, x1 - w * 0.32, y0 + h * 0.45), fill=c)
    d.ellipse((x0 + w * 0.28, y0, x1 - w * 0.28, y0 + h * 0.1), fill=_shade(c, -30))
    d.arc((x0 + w * 0.15, y0 + h * 0.45, x1 - w * 0.15, y1 - h * 0.1), 20, 160, fill=a, width=8)


def _bag(d: ImageDraw.ImageDraw, box: Box, c: RGB, a: RGB) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.polygon(
        [(x0 + w * 0.1, y0 + h * 0.1), (x1 - w * 0.1, y0 + h * 0.1), (x1, y1), (x0, y1)], fill=c
    )
    d.rectangle((x0 + w * 0.1, y0 + h * 0.02, x1 - w * 0.1, y0 + h * 0.12), fill=_shade(c, -30))
    d.ellipse((x0 + w * 0.3, y0 + h * 0.35, x1 - w * 0.3, y0 + h * 0.75), fill=(250, 248, 240))
    d.ellipse((x0 + w * 0.38, y0 + h * 0.45, x1 - w * 0.38, y0 + h * 0.65), fill=a)


SHAPES: dict[str, Callable[[ImageDraw.ImageDraw, Box, RGB, RGB], None]] = {
    "bottle": _bottle,
    "device": _device,
    "box": _box,
    "round": _round,
    "fabric": _fabric,
    "garment": _garment,
    "shoe": _shoe,
    "vase": _vase,
    "bag": _bag,
}


@cache
def _backdrop(view: int) -> Image.Image:
    """The studio backdrop (top-lit vertical gradient) of a view, drawn once per process."""
    top = (246, 246, 248) if view == 1 else (238, 242, 246)
    ramp = Image.linear_gradient("L").resize((SIZE, SIZE))
    return Image.composite(
        Image.new("RGB", ramp.size, _shade(top, -34)), Image.new("RGB", ramp.size, top), ramp
    )


def render(shot: Shot) -> Image.Image:
    """Draw one product shot."""
    rng = random.Random(shot.grain_seed)
    img = _backdrop(shot.view).copy()
    d = ImageDraw.Draw(img)
    scale = 1.0 if shot.view == 1 else 1.45
    half = 130 * scale
    cx = SIZE / 2 + (0 if shot.view == 1 else rng.uniform(-40, 40))
    floor = SIZE * 0.86
    d.ellipse((cx - half * 1.1, floor - 22, cx + half * 1.1, floor + 18), fill=(178, 180, 186))
    SHAPES[shot.shape](
        d, (cx - half, floor - 2.2 * half, cx + half, floor), shot.color, shot.accent
    )
    cells = Image.frombytes("L", (GRAIN_CELLS, GRAIN_CELLS), rng.randbytes(GRAIN_CELLS**2))
    grain = cells.resize((SIZE, SIZE), Image.Resampling.BILINEAR).point(lambda v: v * 3 // 256)
    return ImageChops.add(img, Image.merge("RGB", (grain, grain, grain)))


def write(shot: Shot) -> int:
    """Render ``shot`` to its path; returns the file size."""
    shot.path.parent.mkdir(parents=True, exist_ok=True)
    render(shot).save(shot.path, "PNG", compress_level=PNG_LEVEL)
    return shot.path.stat().st_size


def write_all(shots: Sequence[Shot], workers: int | None = None) -> int:
    """Render every shot, in parallel worker processes when there are many; total bytes."""
    workers = workers or min(4, os.cpu_count() or 1)
    if workers < 2 or len(shots) < 100:
        return sum(write(shot) for shot in shots)
    # forkserver: never fork a process whose other threads may hold locks (test runners, pools)
    with get_context("forkserver").Pool(workers) as pool:
        return sum(pool.imap_unordered(write, shots, chunksize=32))
