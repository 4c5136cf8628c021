"""From cached ``uint8`` frames to model inputs: crop, optional flip, scale, normalise.

Evaluation uses the centre crop with the exact arithmetic of
:func:`memo.data.preprocess.preprocess_image` (zero padding when the frame is smaller than
the crop, ``round`` for the offsets), so a model validated on cached frames sees the same
floats ``memo score`` gives it. Training draws one random crop position and one flip per
video and applies them to all its frames alike, so motion between frames is preserved
(a per-frame crop would add jitter that a temporal model could mistake for motion).
Scoring never applies augmentation.
"""

from __future__ import annotations

import numpy as np

from memo.models.spec import InputSpec


def _pad_to(frames: np.ndarray, crop_h: int, crop_w: int) -> np.ndarray:
    t, h, w, c = frames.shape
    if h >= crop_h and w >= crop_w:
        return frames
    out = np.zeros((t, max(h, crop_h), max(w, crop_w), c), dtype=frames.dtype)
    top, left = (out.shape[1] - h) // 2, (out.shape[2] - w) // 2
    out[:, top : top + h, left : left + w] = frames
    return out


def crop_frames(
    frames: np.ndarray, crop: tuple[int, int], rng: np.random.Generator | None = None
) -> np.ndarray:
    """``(T, H, W, 3)`` -> ``(T, crop_h, crop_w, 3)``: centre crop, or a random one with ``rng``."""
    crop_h, crop_w = crop
    frames = _pad_to(frames, crop_h, crop_w)
    h, w = frames.shape[1:3]
    if rng is None:
        top, left = round((h - crop_h) / 2.0), round((w - crop_w) / 2.0)
    else:
        top, left = int(rng.integers(0, h - crop_h + 1)), int(rng.integers(0, w - crop_w + 1))
    return frames[:, top : top + crop_h, left : left + crop_w]


def to_input(frames: np.ndarray, item: InputSpec, rng: np.random.Generator | None = None) -> np.ndarray:
    """Cached frames of one input -> the float32 array the model takes for one video.

    ``keyframes``: ``(T, 3, H, W)``; ``clip``: ``(3, T, H, W)`` (the layout of 3D CNNs), as
    :func:`memo.data.inputs.prepare_video` gives them. With ``rng``: random crop and a
    horizontal flip with probability 1/2 (training only).
    """
    pre = item.preprocess
    assert pre is not None
    cropped = crop_frames(frames, pre.crop, rng)
    if rng is not None and rng.random() < 0.5:
        cropped = cropped[:, :, ::-1]
    array = cropped.astype(np.float32) / np.float32(255.0)
    array = array.transpose(0, 3, 1, 2)  # (T, 3, H, W)
    if any(pre.mean) or any(s != 1.0 for s in pre.std):
        mean = np.asarray(pre.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(pre.std, dtype=np.float32)[:, None, None]
        array = (array - mean) / std
    if item.stream == "clip":
        array = array.transpose(1, 0, 2, 3)
    return np.ascontiguousarray(array)
