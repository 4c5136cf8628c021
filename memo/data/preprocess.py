"""Per-frame image preprocessing: one arithmetic whichever decoder made the frames and wherever they are.

``Resize`` -> ``CenterCrop`` -> ``ToTensor`` -> ``Normalize``, numerically identical to
torchvision on PIL images (the ResMem parity test checks this against the ``resmem``
package). Frames come as PIL images or ``uint8 (T, H, W, 3)`` arrays on the host (PyAV,
DALI's CPU backend), or as a ``uint8`` torch tensor on a device (DALI on a GPU):

* resize: on the host PIL's own ``Image.resize``; on a device
  :func:`memo.data.resample.resize_tensor`, Pillow's integer arithmetic in torch, which gives
  the same ``uint8`` pixels (checked pixel for pixel in ``tests/test_preprocess.py``);
* centre crop: torchvision's offsets (Python's ``round``) and zero padding, on either;
* scale and normalise: ``(x / 255 - mean) / std`` in float32 with NumPy on the host; on a
  device a 256-entry table per channel computed by that same NumPy expression and looked up
  by torch (CUDA turns division by a scalar into a multiplication by its reciprocal, which
  rounds differently; a table cannot).

So the floats a model sees depend on the decoded pixels only, never on the decoder or the
device, and frames on a GPU stay there.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from memo.data.resample import resize_tensor
from memo.models.spec import Preprocess

_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}

#: Host frames: PIL images or a ``uint8 (T, H, W, 3)`` array; device frames: a torch tensor.
Frames = Sequence[Image.Image] | np.ndarray | Any


def resized_size(width: int, height: int, resize: tuple[int, ...]) -> tuple[int, int]:
    """Output (width, height) of torchvision's ``Resize(resize)``."""
    if len(resize) == 2:
        return resize[1], resize[0]
    (short_target,) = resize
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(short_target * long / short)
    return (short_target, new_long) if width <= height else (new_long, short_target)


def _is_tensor(frames: Any) -> bool:
    return hasattr(frames, "device") and hasattr(frames, "index_select")


def resize_image(image: Image.Image, resize: tuple[int, ...], interpolation: str) -> np.ndarray:
    """One RGB frame -> ``uint8 (h, w, 3)`` resized as torchvision's ``Resize`` does."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    size = resized_size(image.width, image.height, resize)
    if size != image.size:
        image = image.resize(size, _RESAMPLE[interpolation])
    return np.asarray(image, dtype=np.uint8)


def resize_frames(frames: Frames, resize: tuple[int, ...], interpolation: str) -> Any:
    """Frames -> resized ``uint8 (T, h, w, 3)``: a NumPy array, or a tensor on the frames' device."""
    if _is_tensor(frames):
        size = resized_size(int(frames.shape[2]), int(frames.shape[1]), resize)
        return resize_tensor(frames, size, interpolation)
    images = [Image.fromarray(f) for f in frames] if isinstance(frames, np.ndarray) else frames
    return np.stack([resize_image(image, resize, interpolation) for image in images])


def centre_crop(frames: Any, crop: tuple[int, int]) -> Any:
    """torchvision ``CenterCrop`` of ``(T, H, W, C)`` frames (array or tensor), zero-padding first if small."""
    crop_h, crop_w = crop
    count, height, width, channels = frames.shape
    if height < crop_h or width < crop_w:
        shape = (count, max(height, crop_h), max(width, crop_w), channels)
        padded = frames.new_zeros(shape) if _is_tensor(frames) else np.zeros(shape, dtype=frames.dtype)
        top, left = (shape[1] - height) // 2, (shape[2] - width) // 2
        padded[:, top : top + height, left : left + width] = frames
        frames, height, width = padded, shape[1], shape[2]
    top = round((height - crop_h) / 2.0)
    left = round((width - crop_w) / 2.0)
    return frames[:, top : top + crop_h, left : left + crop_w]


def _normalises(spec: Preprocess) -> bool:
    return any(spec.mean) or any(s != 1.0 for s in spec.std)


def scale_normalise(frames: np.ndarray, spec: Preprocess) -> np.ndarray:
    """``uint8 (T, H, W, 3)`` -> float32 ``(T, 3, H, W)``: ``(x / 255 - mean) / std`` (NumPy, the reference)."""
    array = frames.astype(np.float32) / np.float32(255.0)
    array = array.transpose(0, 3, 1, 2)
    if _normalises(spec):
        mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
        array = (array - mean) / std
    return np.ascontiguousarray(array)


@lru_cache(maxsize=64)
def value_table(spec: Preprocess) -> np.ndarray:
    """``(3, 256)`` float32: the output of :func:`scale_normalise` for every channel and level."""
    levels = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None, None], (1, 256, 1, 3))
    return scale_normalise(np.ascontiguousarray(levels), spec)[0, :, :, 0]


def _scale_normalise_tensor(frames: Any, spec: Preprocess) -> Any:
    import torch

    table = torch.from_numpy(value_table(spec)).to(frames.device)
    channels = torch.arange(3, device=frames.device)
    return table[channels, frames.long()].permute(0, 3, 1, 2).contiguous()


def preprocess_frames(frames: Frames, spec: Preprocess) -> Any:
    """Frames -> float32 ``(T, 3, H, W)``: a NumPy array, or a tensor on the frames' device."""
    if _is_tensor(frames):
        resized = resize_frames(frames, spec.resize, spec.interpolation)
        return _scale_normalise_tensor(centre_crop(resized, spec.crop), spec)
    images = [Image.fromarray(f) for f in frames] if isinstance(frames, np.ndarray) else frames
    # frame by frame: a stream whose size changes still gives crops of one size
    crops = [centre_crop(resize_image(im, spec.resize, spec.interpolation)[None], spec.crop) for im in images]
    return scale_normalise(np.concatenate(crops), spec)


def preprocess_image(image: Image.Image, spec: Preprocess) -> np.ndarray:
    """RGB PIL image -> float32 array ``(3, H, W)``."""
    return preprocess_frames([image], spec)[0]
