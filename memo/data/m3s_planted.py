"""Generated videos with a planted *low-level + distinctiveness* signal (M3-S experiments, tests);
:mod:`memo.data.planted` plants a temporal one.

Each video is a moving texture (a sum of three drifting gratings) with four known causes:

* ``brightness`` — the grey-level scale;
* ``blur`` — the sigma of a Gaussian blur applied to every frame;
* ``speed`` — the drift of the texture, in pixels per frame;
* ``outlier`` — the colour tint. Ordinary videos share one tint (small jitter); outliers get
  a tint of a random other hue **at the same luma**, so grey-level measurements (HOG,
  brightness, contrast, blur, flow) cannot tell them apart: only a representation that sees
  colour, compared with the other videos, can.

The label is ``sigmoid(0.8 z(brightness) - 0.8 z(blur) + 0.8 z(speed) + 1.6 outlier)``
with ``z`` the standardisation over the generated set's ranges — a noiseless function of
the four causes, so a model that measures them can rank the videos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from memo.data.synthetic import write_video

LUMA = np.array([0.299, 0.587, 0.114])
RANGES = {"brightness": (0.3, 0.65), "blur": (0.0, 2.5), "speed": (0.0, 3.0)}


@dataclass(frozen=True)
class PlantedVideo:
    path: Path
    brightness: float
    blur: float
    speed: float
    outlier: bool
    label: float


def _unit(direction: np.ndarray) -> np.ndarray:
    """``direction`` projected orthogonal to the luma weights, unit length."""
    d = direction - LUMA * (direction @ LUMA) / (LUMA @ LUMA)
    return d / (np.linalg.norm(d) + 1e-12)


def _tint(direction: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """RGB gains with luma exactly 1: ``1 + strength * d``, ``d`` orthogonal to the luma weights."""
    return 1.0 + strength * _unit(direction)


def _painter(rng: np.random.Generator, size: int, brightness: float, blur: float, speed: float,
             tint: np.ndarray):  # type: ignore[no-untyped-def]  # fmt: skip
    angles = rng.uniform(0, math.pi, 3)
    freqs = rng.uniform(0.05, 0.15, 3)
    phases = rng.uniform(0, 2 * math.pi, 3)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)

    def paint(i: int) -> np.ndarray:
        xs = x - speed * i
        pattern = sum(
            np.sin(2 * math.pi * f * (xs * math.cos(a) + y * math.sin(a)) + p)
            for a, f, p in zip(angles, freqs, phases, strict=True)
        )
        grey = 255.0 * brightness * (0.6 + 0.4 * pattern / 3.0)
        image = np.clip(grey[..., None] * tint[None, None], 0, 255).astype(np.uint8)
        if blur > 0:
            image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(blur)))
        return image

    return paint


def planted_label(brightness: float, blur: float, speed: float, outlier: bool) -> float:
    def z(name: str, v: float) -> float:
        lo, hi = RANGES[name]
        return (v - (lo + hi) / 2) / ((hi - lo) / math.sqrt(12))

    s = 0.8 * z("brightness", brightness) - 0.8 * z("blur", blur) + 0.8 * z("speed", speed) + 1.6 * outlier
    return 1.0 / (1.0 + math.exp(-s))


def write_planted(folder: str | Path, count: int, *, outlier_rate: float = 0.15, size: int = 64,
                  frames: int = 12, fps: float = 12.0, seed: int = 0) -> list[PlantedVideo]:  # fmt: skip
    """Write ``count`` planted videos into ``folder`` (existing files are rewritten)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    common = np.array([-0.4, 0.1, 1.0])
    videos = []
    for i in range(count):
        values = {k: float(rng.uniform(*r)) for k, r in RANGES.items()}
        outlier = bool(rng.random() < outlier_rate)
        if outlier:  # a random hue at least 90 degrees from the common one
            direction = rng.normal(size=3)
            while _unit(direction) @ _unit(common) > 0:
                direction = rng.normal(size=3)
        else:
            direction = common + rng.normal(scale=0.05, size=3)
        paint = _painter(rng, size, values["brightness"], values["blur"], values["speed"], _tint(direction))
        path = write_video(folder / f"planted_{i:04d}.mp4", frames=frames, fps=fps, width=size,
                           height=size, painter=paint)  # fmt: skip
        label = planted_label(values["brightness"], values["blur"], values["speed"], outlier)
        videos.append(
            PlantedVideo(path, values["brightness"], values["blur"], values["speed"], outlier, label)
        )
    return videos
