"""Per-frame image preprocessing, numerically identical to torchvision on PIL images.

``Resize`` -> ``CenterCrop`` -> ``ToTensor`` -> ``Normalize``, done with PIL and NumPy so
that the data layer needs no torchvision transforms and gives the same floats the model
was trained with (the ResMem parity test checks this against the ``resmem`` package).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from memo.models.spec import Preprocess

_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


def resized_size(width: int, height: int, resize: tuple[int, ...]) -> tuple[int, int]:
    """Output (width, height) of torchvision's ``Resize(resize)``."""
    if len(resize) == 2:
        return resize[1], resize[0]
    (short_target,) = resize
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(short_target * long / short)
    return (short_target, new_long) if width <= height else (new_long, short_target)


def preprocess_image(image: Image.Image, spec: Preprocess) -> np.ndarray:
    """RGB PIL image -> float32 array ``(3, H, W)``."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    size = resized_size(image.width, image.height, spec.resize)
    if size != image.size:
        image = image.resize(size, _RESAMPLE[spec.interpolation])
    image = _center_crop(image, spec.crop)
    array = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    array = array.transpose(2, 0, 1)
    if any(spec.mean) or any(s != 1.0 for s in spec.std):
        mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
        array = (array - mean) / std
    return np.ascontiguousarray(array)


def _center_crop(image: Image.Image, crop: tuple[int, int]) -> Image.Image:
    crop_h, crop_w = crop
    if image.width < crop_w or image.height < crop_h:  # torchvision pads with zeros first
        padded = Image.new("RGB", (max(image.width, crop_w), max(image.height, crop_h)))
        padded.paste(image, ((padded.width - image.width) // 2, (padded.height - image.height) // 2))
        image = padded
    top = round((image.height - crop_h) / 2.0)
    left = round((image.width - crop_w) / 2.0)
    if (left, top, crop_w, crop_h) == (0, 0, image.width, image.height):
        return image
    return image.crop((left, top, left + crop_w, top + crop_h))


def preprocess_frames(images: list[Image.Image], spec: Preprocess) -> np.ndarray:
    """A list of frames -> ``(T, 3, H, W)`` float32."""
    return np.stack([preprocess_image(image, spec) for image in images])
