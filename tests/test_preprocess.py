"""One preprocessing: PIL on the host and Pillow's arithmetic in torch give the same pixels.

The torch path (:mod:`memo.data.resample`) is what runs on a GPU; here it runs on CPU
tensors, where torch's integer arithmetic is the same as on CUDA. Every model's
preprocessing in the registry is covered, plus bicubic, nearest and zero padding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from memo.data.preprocess import preprocess_frames, resize_frames, scale_normalise, value_table
from memo.data.resample import horizontal_first
from memo.models.spec import Preprocess

FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
           "nearest": Image.Resampling.NEAREST}  # fmt: skip
# (in W, in H) -> (out W, out H): downscale, upscale, mixed, portrait (vertical pass first), odd sizes
SIZES = [((320, 240), (256, 256)), ((1280, 720), (227, 128)), ((272, 640), (256, 256)),
         ((100, 300), (455, 256)), ((176, 144), (300, 500)), ((17, 23), (5, 41)), ((64, 48), (64, 20)),
         ((960, 540), (112, 63))]  # fmt: skip
EXTRA = [
    Preprocess((40,), (36, 36), interpolation="bicubic"),
    Preprocess((20, 30), (24, 24), interpolation="nearest"),  # crop larger than the image: zero padding
    Preprocess((33,), (30, 31), (0.5, 0.4, 0.3), (0.2, 0.3, 0.25), interpolation="bicubic"),
]


def _frames(width: int, height: int, count: int = 2, seed: int = 0) -> np.ndarray:
    """Noise plus smooth ramps: hard edges for overshoot and clipping, gradients for rounding."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (count, height, width, 3))
    ramp = (np.arange(width)[None, None, :, None] * 255 // max(width - 1, 1)).repeat(height, 1)
    return np.where(rng.random((count, height, width, 1)) < 0.5, noise, ramp).astype(np.uint8)


def _model_preprocessing() -> list[Preprocess]:
    from memo.models.registry import get_entry, list_models

    found = {i.preprocess for n in list_models() for i in get_entry(n).default_spec().inputs if i.preprocess}
    assert len(found) >= 5  # resmem, imagenet trunks, kinetics clips, tiny, amnet ...
    return sorted(found, key=repr)


@pytest.mark.parametrize("interpolation", list(FILTERS))
@pytest.mark.parametrize(("size_in", "size_out"), SIZES, ids=lambda s: "x".join(map(str, s)))
def test_torch_resize_is_pil_pixel_for_pixel(size_in, size_out, interpolation: str) -> None:
    frames = _frames(*size_in, count=1)
    expected = np.stack(
        [np.asarray(Image.fromarray(f).resize(size_out, FILTERS[interpolation])) for f in frames]
    )
    got = resize_frames(torch.from_numpy(frames), (size_out[1], size_out[0]), interpolation)
    assert got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), expected)


def test_pass_order_is_pillows() -> None:
    assert horizontal_first(1280, 720, 256, 256)  # landscape: horizontal pass first
    assert not horizontal_first(272, 640, 256, 256)  # height shrinks > 2x the width: vertical first
    assert horizontal_first(100, 100, 100, 200)  # upscaling the height never goes first


def test_every_model_preprocessing_is_one_arithmetic() -> None:
    """Host (PIL + NumPy) and torch give bit-identical floats for every model in the registry."""
    for spec in [*_model_preprocessing(), *EXTRA]:
        for width, height in [(320, 240), (272, 640), (50, 30)]:
            frames = _frames(width, height, seed=width)
            host = preprocess_frames(frames, spec)
            device = preprocess_frames(torch.from_numpy(frames), spec)
            assert isinstance(host, np.ndarray) and host.dtype == np.float32
            assert device.dtype == torch.float32 and device.is_contiguous()
            assert host.shape == (2, 3, *spec.crop)
            np.testing.assert_array_equal(device.numpy(), host, err_msg=f"{spec} at {width}x{height}")


def test_value_table_is_the_numpy_expression() -> None:
    spec = Preprocess((8,), (8, 8), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)
    expected = scale_normalise(levels, spec)[0].reshape(3, 256)
    np.testing.assert_array_equal(value_table(spec), expected)


def test_pil_images_arrays_and_tensors_agree() -> None:
    spec = Preprocess((256, 256), (227, 227))
    frames = _frames(320, 180, count=3)
    from_images = preprocess_frames([Image.fromarray(f) for f in frames], spec)
    np.testing.assert_array_equal(from_images, preprocess_frames(frames, spec))
    np.testing.assert_array_equal(from_images, preprocess_frames(torch.from_numpy(frames), spec).numpy())
