"""Pictures for ``memo explain``: heat-map overlays on frames and a contact sheet per video.

Pure PIL + NumPy (no matplotlib), so explaining works with the core install. Each map is
upsampled bilinearly to the frame's size, scaled to [0, 1] on its own (attention maps are
distributions: their absolute level says little, where they peak says what matters) and
blended over the frame with a perceptually ordered colour map.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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


def crop_box(
    width: int, height: int, resize: Sequence[int], crop: Sequence[int]
) -> tuple[int, int, int, int]:
    """The part of a ``width`` x ``height`` frame the model saw: (left, top, right, bottom).

    The model's preprocessing resizes (``[H, W]`` stretched, or ``[S]`` shorter side) and
    then centre-crops ``crop``; mapped back, the crop is a centred box of the original frame."""
    if len(resize) == 1:
        scale = resize[0] / min(width, height)
        resized_w, resized_h = width * scale, height * scale
    else:
        resized_h, resized_w = resize[0], resize[1]
    crop_h, crop_w = min(crop[0], resized_h), min(crop[1], resized_w)
    box_w, box_h = width * crop_w / resized_w, height * crop_h / resized_h
    left, top = (width - box_w) / 2, (height - box_h) / 2
    return round(left), round(top), round(left + box_w), round(top + box_h)


def overlay_in_box(
    frame: np.ndarray, amap: np.ndarray, box: tuple[int, int, int, int], alpha: float = 0.55
) -> Image.Image:
    """``frame`` at its own size and aspect ratio, ``amap`` drawn over the ``box`` the model saw;
    the rest of the frame (cropped away by the model's preprocessing) is dimmed."""
    left, top, right, bottom = box
    out = frame.astype(np.float32) * 0.45
    inside = np.ascontiguousarray(frame[top:bottom, left:right])
    out[top:bottom, left:right] = np.asarray(overlay(inside, amap, alpha), dtype=np.float32)
    return Image.fromarray(out.round().clip(0, 255).astype(np.uint8))


def contact_sheet(
    rows: Sequence[tuple[str, Sequence[Image.Image]]],
    title: str,
    cell: int = 160,
    notes: Sequence[str] = (),
) -> Image.Image:
    """A grid: one row per (label, images), the images scaled to ``cell`` pixels high at their
    own aspect ratio; ``notes`` (e.g. each frame's time and score) are written under the first row."""
    label_h, gap = 18, 4
    columns = max(len(images) for _, images in rows)
    widths = [max(round(img.width * cell / img.height) for img in images) for _, images in rows if images]
    cell_w = max(widths) if widths else cell
    font = ImageFont.load_default()
    cell_w = max([cell_w, *(round(font.getlength(note)) + gap for note in notes)])  # notes never overlap
    sheet_w = max(columns * (cell_w + gap) + gap, round(font.getlength(title)) + 2 * gap)
    sheet_h = label_h + len(rows) * (cell + label_h + gap) + gap + (label_h if notes else 0)
    sheet = Image.new("RGB", (sheet_w, sheet_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text((gap, 2), title, fill=(0, 0, 0), font=font)
    y = label_h
    for r, (label, images) in enumerate(rows):
        draw.text((gap, y + 2), label, fill=(0, 0, 0), font=font)
        y += label_h
        for i, image in enumerate(images):
            scaled = image.resize((round(image.width * cell / image.height), cell), Image.Resampling.BILINEAR)
            sheet.paste(scaled, (gap + i * (cell_w + gap), y))
        y += cell + gap
        if r == 0 and notes:
            for i, note in enumerate(notes):
                draw.text((gap + i * (cell_w + gap), y), note, fill=(0, 0, 0), font=font)
            y += label_h
    return sheet
