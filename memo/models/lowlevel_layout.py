"""The layout of a ``lowlevel`` input, shared by the data layer that fills it
(:mod:`memo.data.lowlevel`) and the model that reads it (:mod:`memo.models.m3s`).

One row per sampled frame: ``[hog (hog_dim) | brightness, contrast, blurriness, flow |
bytes_per_second]``; HOG with 8 x 8 cells, 16 x 16 blocks at an 8-pixel stride, 9 bins.
"""

from __future__ import annotations

#: Column names after the HOG block, in order (the last one is per video, repeated per row).
SCALARS: tuple[str, ...] = ("brightness", "contrast", "blurriness", "flow", "bytes_per_second")
CELL, BLOCK, STRIDE, BINS = 8, 16, 8, 9


def hog_dim(size: int) -> int:
    """HOG length of a ``size x size`` frame."""
    blocks = (size - BLOCK) // STRIDE + 1
    return blocks * blocks * (BLOCK // CELL) ** 2 * BINS


def lowlevel_dim(size: int) -> int:
    return hog_dim(size) + len(SCALARS)
