"""A bar chart of per-module contributions (``memo explain`` on ``m3s`` bundles), PIL only.

One horizontal bar per module, signed: a bar to the right of the zero line raised the
prediction, to the left lowered it (``prediction - prediction with that module's head input
replaced by its training mean``, :mod:`memo.models.m3s_contrib`). The axis is symmetric
around zero and scaled to the largest magnitude, with the values written beside the bars.
"""

from __future__ import annotations

from collections.abc import Mapping

from PIL import Image, ImageDraw

RAISE = (46, 125, 50)  # green: the module raised the score
LOWER = (198, 40, 40)  # red: the module lowered it


def contribution_chart(
    values: Mapping[str, float], title: str, width: int = 520, bar: int = 26
) -> Image.Image:
    """``values``: module -> contribution in score units; returns an RGB image."""
    label_w, value_w, gap, top = 90, 70, 8, 40
    height = top + len(values) * (bar + gap) + 30
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((gap, 6), title, fill=(0, 0, 0))
    draw.text(
        (gap, 20),
        "contribution to the score (prediction minus module at its training mean)",
        fill=(90, 90, 90),
    )
    left, right = label_w, width - value_w
    zero = (left + right) // 2
    scale = max([abs(v) for v in values.values()] + [1e-6])
    half = (right - left) / 2 - 2
    y = top
    for name, value in values.items():
        draw.text((gap, y + bar // 2 - 6), name, fill=(0, 0, 0))
        end = zero + round(value / scale * half)
        draw.rectangle([min(zero, end), y, max(zero, end), y + bar], fill=RAISE if value >= 0 else LOWER)
        draw.text((right + 6, y + bar // 2 - 6), f"{value:+.4f}", fill=(0, 0, 0))
        y += bar + gap
    draw.line([(zero, top - 4), (zero, y)], fill=(0, 0, 0), width=1)
    draw.text((left, y + 4), f"-{scale:.3g}", fill=(90, 90, 90))
    draw.text((right - 40, y + 4), f"+{scale:.3g}", fill=(90, 90, 90))
    return image
