"""Reference decoders and frame painters shared by the decoding tests.

The reference decodes a file the simplest possible way (every frame, in order, no
seeking) so that the index-then-seek sampler in :mod:`memo.data.decode` can be checked
against it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from pathlib import Path

import av
import numpy as np
import pytest

from memo.data.synthetic import KINDS


def require_encoder(kind: str) -> None:
    """Skip (with the reason) when this FFmpeg build lacks the encoder of ``kind``."""
    codec = KINDS[kind][2]
    try:
        av.codec.Codec(codec, "w")
    except Exception as exc:  # UnknownCodecError, or a build without the encoder
        pytest.skip(f"encoder {codec} for {kind} is not available in this PyAV/FFmpeg build ({exc})")


def decode_all_times(path: str | Path) -> list[float]:
    """Presentation time of every frame, by decoding the whole file in order."""
    with av.open(str(path)) as container:
        return sorted(float(frame.time) for frame in container.decode(video=0))


def decode_at_times(path: str | Path, wanted: Iterable[float]) -> dict[float, np.ndarray]:
    """Pixels (RGB, coded orientation) of the frames at the given exact times, by sequential decode."""
    targets = sorted(set(wanted))
    found: dict[float, np.ndarray] = {}
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            t = float(frame.time)
            hit = [w for w in targets if abs(w - t) < 1e-6]
            for w in hit:
                found[w] = frame.to_ndarray(format="rgb24")
    return found


def on_screen(frame_times: list[float], target: float) -> float:
    """The time of the frame shown at ``target``: the last frame with time <= target."""
    i = bisect.bisect_right(frame_times, target + 1e-6) - 1
    return frame_times[max(i, 0)]


def level_painter(width: int, height: int, step: int = 20) -> Callable[[int], np.ndarray]:
    """Frame ``i`` is a flat grey of level ``16 + step * i``: the picture says which frame it is."""

    def paint(i: int) -> np.ndarray:
        return np.full((height, width, 3), 16 + step * i, dtype=np.uint8)

    return paint


def frame_index(image: np.ndarray, step: int = 20) -> int:
    """Inverse of :func:`level_painter` (robust to compression noise)."""
    return round((float(np.asarray(image, dtype=np.float64).mean()) - 16) / step)


def marker_painter(width: int, height: int) -> Callable[[int], np.ndarray]:
    """Mid-grey frames with a bright red block in the top-left corner."""

    def paint(i: int) -> np.ndarray:
        image = np.full((height, width, 3), 128, dtype=np.uint8)
        image[: height // 3, : width // 3] = (250, 10, 10)
        return image

    return paint


def red_corner(image: np.ndarray) -> str:
    """Which corner of an RGB image holds the red marker: tl, tr, bl or br."""
    h, w = image.shape[:2]
    corners = {
        "tl": image[: h // 6, : w // 6],
        "tr": image[: h // 6, w - w // 6 :],
        "bl": image[h - h // 6 :, : w // 6],
        "br": image[h - h // 6 :, w - w // 6 :],
    }
    redness = {name: float(px[..., 0].mean() - px[..., 1].mean()) for name, px in corners.items()}
    return max(redness, key=redness.__getitem__)
