"""Pillow's resize arithmetic, reproduced exactly in torch so it runs on any device.

memo's frames are resized the way torchvision does it on PIL images (``Image.resize``), and
models were trained that way. To give the same pixels whichever decoder produced the frames
and whichever device holds them, the GPU path does not use another resizer (DALI's
``fn.resize``, ``torch.nn.functional.interpolate``): it applies *Pillow's own* integer
arithmetic, taken from Pillow 13's ``src/libImaging/Resample.c`` and ``Geometry.c``:

* bilinear / bicubic (a = -0.5): per output pixel, Pillow's support window (widened by the
  scale factor when downscaling: its antialiasing), weights normalised to sum 1 in double
  precision and then rounded to 22-bit fixed point (``PRECISION_BITS``); each pass sums
  ``uint8 * weight`` in int32 from ``2**21`` and keeps ``clip(sum >> 22, 0, 255)``;
* two passes through a ``uint8`` intermediate, horizontal first unless the height shrinks
  by more than twice as many pixels as the width (Pillow >= 13's rule);
* nearest: Pillow's affine scaling, source coordinate accumulated in double precision.

The weights are built here in Python with the same double-precision expressions, then
applied by torch as ``index_select`` + int32 multiply-add per tap: integer arithmetic, so
the result is bit-identical on the CPU and on CUDA. ``tests/test_preprocess.py`` checks it
against ``PIL.Image.resize`` pixel for pixel over every model's preprocessing and many sizes.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

PRECISION_BITS = 22  # Pillow: 32 - 8 - 2
SUPPORT = {"bilinear": 1.0, "bicubic": 2.0}


def _bilinear(x: float) -> float:
    if x < 0.0:
        x = -x
    return 1.0 - x if x < 1.0 else 0.0


def _bicubic(x: float) -> float:
    a = -0.5
    if x < 0.0:
        x = -x
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


_FILTERS = {"bilinear": _bilinear, "bicubic": _bicubic}


@lru_cache(maxsize=256)
def pil_weights(in_size: int, out_size: int, interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` for one axis.

    Returns ``(index, weight)``, both ``(out_size, ksize)``: source pixel and int32 fixed-point
    weight of each tap (taps past a window's end point at its first pixel with weight 0).
    """
    kernel, support = _FILTERS[interpolation], SUPPORT[interpolation]
    scale = filterscale = in_size / out_size
    if filterscale < 1.0:
        filterscale = 1.0
    support = support * filterscale
    ksize = math.ceil(support) * 2 + 1
    index = np.zeros((out_size, ksize), dtype=np.int64)
    weight = np.zeros((out_size, ksize), dtype=np.int32)
    one = 1 << PRECISION_BITS
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        taps = [kernel((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        total = 0.0
        for w in taps:
            total += w
        if total != 0.0:
            taps = [w / total for w in taps]
        for x, w in enumerate(taps):
            weight[xx, x] = int(-0.5 + w * one) if w < 0 else int(0.5 + w * one)
        index[xx, :xmax] = np.arange(xmin, xmin + xmax)
        index[xx, xmax:] = xmin
    return index, weight


@lru_cache(maxsize=256)
def pil_nearest(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's nearest-neighbour source index per output pixel (``ImagingScaleAffine``)."""
    step = in_size / out_size
    position = step * 0.5
    out = np.empty(out_size, dtype=np.int64)
    for x in range(out_size):
        out[x] = min(max(-1 if position < 0.0 else int(position), 0), in_size - 1)
        position += step
    return out


def horizontal_first(in_w: int, in_h: int, out_w: int, out_h: int) -> bool:
    """Pillow >= 13's pass order: vertical first when the height shrinks by more than twice the width."""
    return not (in_h - out_h > 0 and in_h - out_h > (in_w - out_w) * 2)


def resize_tensor(frames: Any, size: tuple[int, int], interpolation: str) -> Any:
    """``uint8 (T, H, W, C)`` torch tensor -> ``(T, h, w, C)`` at ``size = (w, h)``, on its device.

    Bit-identical to ``Image.resize(size, filter)`` on each frame (see the module docstring).
    """
    import torch

    out_w, out_h = size
    _, in_h, in_w, _ = frames.shape
    if (out_w, out_h) == (in_w, in_h):
        return frames
    if interpolation == "nearest":
        rows = torch.from_numpy(pil_nearest(in_h, out_h)).to(frames.device)
        cols = torch.from_numpy(pil_nearest(in_w, out_w)).to(frames.device)
        return frames.index_select(1, rows).index_select(2, cols)
    passes = [(2, in_w, out_w), (1, in_h, out_h)]
    if not horizontal_first(in_w, in_h, out_w, out_h):
        passes.reverse()
    for dim, n_in, n_out in passes:
        if n_in != n_out:
            frames = _pass(frames, dim, *pil_weights(n_in, n_out, interpolation))
    return frames


def _pass(frames: Any, dim: int, index: np.ndarray, weight: np.ndarray) -> Any:
    """One separable pass along ``dim`` (1: rows, 2: columns): Pillow's 8-bit fixed-point sum."""
    import torch

    device = frames.device
    taps = torch.from_numpy(index).to(device)
    weights = torch.from_numpy(weight).to(device)
    shape = [1] * frames.dim()
    shape[dim] = index.shape[0]
    total = torch.full((), 1 << (PRECISION_BITS - 1), dtype=torch.int32, device=device)
    for t in range(index.shape[1]):
        picked = frames.index_select(dim, taps[:, t]).to(torch.int32)
        total = total + picked * weights[:, t].view(shape)
    return torch.clamp(total >> PRECISION_BITS, 0, 255).to(torch.uint8)
