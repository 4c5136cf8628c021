"""CPU preprocessing speed: memo's one preprocessing now vs the PIL-only code it replaced.

    python benchmarks/preprocess_speed.py [--repeats 20]

Side by side in one run, on the same decoded frames (7 keyframes, as ResMem scores them):

* ``before``: the previous ``memo.data.preprocess`` (PIL resize, PIL centre crop, NumPy
  scale/normalise), kept here verbatim as the reference;
* ``now (host)``: :func:`memo.data.preprocess.preprocess_frames` on PIL images, the path PyAV
  and DALI's CPU backend take;
* ``now (torch CPU)``: the same function on a ``uint8`` CPU tensor, the code that runs on a
  GPU (for information: on the CPU it is the slow way, and memo never takes it there).

Prints milliseconds per frame (median of ``--repeats``) and the ratio to ``before``; then the
YUV -> RGB conversion of one decoded frame per WebM file of ../shared/videos: FFmpeg's
default path (``frame.to_image()``, before issue 19), swscale with DALI's flags honouring the
chroma siting the file declares (memo's conversion before it took the chroma as centred), and
:func:`memo.data.container.frame_rgb` (the same, centred, with its copy of the planes), turned
into a PIL image, as the sampler does.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from memo.data.container import RGB_SWS_FLAGS, frame_rgb
from memo.data.preprocess import preprocess_frames, resized_size
from memo.models.spec import Preprocess

RESMEM = Preprocess((256, 256), (227, 227))
IMAGENET = Preprocess((256,), (224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def before(images: list[Image.Image], spec: Preprocess) -> np.ndarray:
    """The replaced implementation (PIL crop with paste-padding, NumPy normalisation)."""
    out = []
    for image in images:
        size = resized_size(image.width, image.height, spec.resize)
        image = image.resize(size, _FILTERS[spec.interpolation]) if size != image.size else image
        crop_h, crop_w = spec.crop
        top, left = round((image.height - crop_h) / 2.0), round((image.width - crop_w) / 2.0)
        image = image.crop((left, top, left + crop_w, top + crop_h))
        array = (np.asarray(image, dtype=np.float32) / np.float32(255.0)).transpose(2, 0, 1)
        if any(spec.mean) or any(s != 1.0 for s in spec.std):
            mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
            std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
            array = (array - mean) / std
        out.append(np.ascontiguousarray(array))
    return np.stack(out)


def median_ms(run: Callable[[], object], repeats: int, frames: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000 / frames


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch threads "
          f"{torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    rng = np.random.default_rng(0)
    for width, height in [(1280, 720), (320, 240)]:
        base = rng.integers(0, 256, (7, height // 8, width // 8, 3), dtype=np.uint8)
        frames = np.stack([np.asarray(Image.fromarray(f).resize((width, height))) for f in base])
        images = [Image.fromarray(f) for f in frames]
        tensor = torch.from_numpy(frames)
        for name, spec in (("resmem", RESMEM), ("imagenet", IMAGENET)):
            assert np.array_equal(before(images, spec), preprocess_frames(images, spec))
            old = median_ms(lambda s=spec, i=images: before(i, s), args.repeats, len(images))
            new = median_ms(lambda s=spec, i=images: preprocess_frames(i, s), args.repeats, len(images))
            dev = median_ms(
                lambda s=spec, t=tensor: preprocess_frames(t, s), max(3, args.repeats // 5), len(images)
            )
            print(f"{width}x{height} {name:8s} before {old:6.2f} ms/frame  now (host) {new:6.2f} "
                  f"({new / old:.2f}x)  now (torch CPU) {dev:7.2f} ({dev / old:.1f}x)")  # fmt: skip

    for path in sorted((Path(__file__).resolve().parents[2] / "shared" / "videos").glob("*.webm")):
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
        old = median_ms(frame.to_image, args.repeats, 1)
        sited = median_ms(lambda f=frame: Image.fromarray(honouring_siting(f)), args.repeats, 1)
        new = median_ms(lambda f=frame: Image.fromarray(frame_rgb(f)), args.repeats, 1)
        print(f"{path.name} {frame.width}x{frame.height} YUV->RGB: to_image {old:.2f} ms, same flags honouring "
              f"the siting {sited:.2f} ms, frame_rgb {new:.2f} ms ({new / old:.2f}x)")  # fmt: skip


def honouring_siting(frame: av.VideoFrame) -> np.ndarray:
    """frame_rgb before it took the chroma as centred: no copy of the planes (for the cost of it)."""
    return frame.reformat(format="rgb24", interpolation=RGB_SWS_FLAGS).to_ndarray()


if __name__ == "__main__":
    main()
