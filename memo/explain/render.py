"""Pictures for ``memo explain``: heat-map overlays on frames and a contact sheet per video.

Pure PIL + NumPy (no matplotlib), so explaining works with the core install. Each map is
upsampled bilinearly to the frame's size, scaled to [0, 1] on its own (attention maps are
distributions: their absolute level says little, where they peak says what matters) and
blended over the frame with a perceptually ordered colour map.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

#: Anchor colours of a dark-to-bright heat map (black, purple, red, orange, yellow-white).
_ANCHORS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32
)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """``values`` in [0, 1], any shape -> ``uint8`` RGB of shape ``values.shape + (3,)``."""
    v = np.clip(values, 0.0, 1.0) * (len(_ANCHORS) - 1)
    low = np.floor(v).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (v - low)[..., None]
    rgb = _ANCHORS[low] * (1 - frac) + _ANCHORS[low + 1] * frac
    return rgb.round().astype(np.uint8)


def normalise_map(amap: np.ndarray) -> np.ndarray:
    amap = np.asarray(amap, dtype=np.float32)
    lo, hi = float(amap.min()), float(amap.max())
    return np.zeros_like(amap) if hi - lo < 1e-12 else (amap - lo) / (hi - lo)


def overlay(frame: np.ndarray, amap: np.ndarray, alpha: float = 0.55) -> Image.Image:
    """``frame`` ``uint8 (H, W, 3)`` with ``amap`` ``(h, w)`` drawn over it as a heat map."""
    height, width = frame.shape[:2]
    small = Image.fromarray(normalise_map(amap), mode="F")
    big = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    heat = heat_colours(big).astype(np.float32)
    mixed = (1 - alpha) * frame.astype(np.float32) + alpha * heat
    return Image.fromarray(mixed.round().clip(0, 255).astype(np.uint8))


def contact_sheet(
    rows: Sequence[tuple[str, Sequence[Image.Image]]], title: str, cell: int = 160
) -> Image.Image:
    """A grid: one row per (label, images), the images scaled to ``cell`` pixels high."""
    label_h, gap = 18, 4
    columns = max(len(images) for _, images in rows)
    widths = [max(round(img.width * cell / img.height) for img in images) for _, images in rows if images]
    cell_w = max(widths) if widths else cell
    sheet_w = columns * (cell_w + gap) + gap
    sheet_h = label_h + len(rows) * (cell + label_h + gap) + gap
    sheet = Image.new("RGB", (sheet_w, sheet_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text((gap, 2), title, fill=(0, 0, 0))
    y = label_h
    for label, images in rows:
        draw.text((gap, y + 2), label, fill=(0, 0, 0))
        y += label_h
        for i, image in enumerate(images):
            scaled = image.resize((round(image.width * cell / image.height), cell), Image.Resampling.BILINEAR)
            sheet.paste(scaled, (gap + i * (cell_w + gap), y))
        y += cell + gap
    return sheet
