"""Set-of-marks overlay: the element ids drawn onto a screenshot."""

from __future__ import annotations

import io
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont

_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#9a6324")


def overlay(
    screenshot: bytes,
    boxes: Mapping[str, tuple[int, int, int, int]],
    kind: str = "png",
    quality: int = 80,
) -> bytes:
    """Return ``screenshot`` with a coloured frame and an id label over each ``(x, y, w, h)``
    box, encoded again as ``kind`` (png, jpeg or webp) at ``quality``."""
    image = Image.open(io.BytesIO(screenshot)).convert("RGB")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for i, (element_id, (x, y, w, h)) in enumerate(boxes.items()):
        color = _COLORS[i % len(_COLORS)]
        draw.rectangle((x, y, x + w, y + h), outline=color, width=2)
        left, top, right, bottom = draw.textbbox((x, y), element_id, font=font)
        label_y = max(0, y - (bottom - top) - 2)
        draw.rectangle((x, label_y, x + right - left + 4, label_y + bottom - top + 2), fill=color)
        draw.text((x + 2, label_y), element_id, fill="white", font=font)
    out = io.BytesIO()
    image.save(out, format=kind.upper(), **({} if kind == "png" else {"quality": quality}))
    return out.getvalue()
