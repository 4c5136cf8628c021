"""The DALI pipeline graphs memo runs, and the per-video numbers fed into them.

One pipeline decodes one video per run (batch size 1): encoded bytes and the frame numbers
to decode come in through ``fn.external_source``; ``fn.decoders.video`` (DALI >= 2.0)
decodes exactly those frames (``pad_mode="none"``: a frame number past the end is an error,
not a silently black frame). For a bundle's :class:`~memo.models.spec.Preprocess` the graph
goes on to do what :mod:`memo.data.preprocess` does with PIL, in the same order:

1. rotation by the display matrix, a multiple of 90 degrees, as an exact transpose/flip;
2. ``fn.resize`` to the size torchvision's ``Resize`` computes (worked out here in Python
   and fed per video, so the integer truncation of the long side matches exactly), with
   the same filter and antialiasing on downscale as PIL;
3. ``fn.slice`` at the centre-crop anchor torchvision computes (Python's ``round``, zero
   padding when the image is smaller than the crop);
4. ``fn.crop_mirror_normalize`` to float32 ``(T, 3, H, W)``: ``(x - 255*mean) / (255*std)``.

The same graph runs on the CPU (``device="cpu"``, checked against PyAV + PIL in the
tests) or, with ``device="mixed"`` decoding on NVDEC and the rest on the GPU, which has
NOT been run: no GPU was available when this was written (see docs/decoding.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from memo.data.preprocess import resized_size
from memo.models.spec import Preprocess

#: Codecs each DALI backend decodes (``fn.decoders.video`` documentation, DALI 2.4).
CPU_CODECS = frozenset({"vp8", "vp9", "mjpeg"})
GPU_CODECS = CPU_CODECS | {"av1", "mpeg4", "h264", "hevc"}


@dataclass(frozen=True)
class GraphKey:
    """What fixes a pipeline's graph; per-video sizes are fed at run time."""

    device_id: int | None  # None: CPU-only pipeline
    rotation: int  # 0, 90, 180 or 270 (counter-clockwise, as PyAV reports it)
    preprocess: Preprocess | None  # None: decoded uint8 frames only


def crop_anchor(size: int, crop: int) -> int:
    """torchvision ``CenterCrop`` along one axis: ``round((size - crop) / 2)``, or the zero padding."""
    if size >= crop:
        return round((size - crop) / 2.0)
    return -((crop - size) // 2)


def geometry(width: int, height: int, rotation: int, preprocess: Preprocess) -> dict[str, np.ndarray]:
    """The per-video inputs of the preprocessing part of the graph, from the coded size."""
    if rotation % 180 == 90:
        width, height = height, width
    new_w, new_h = resized_size(width, height, preprocess.resize)
    crop_h, crop_w = preprocess.crop
    return {
        "resize_x": np.float32(new_w),
        "resize_y": np.float32(new_h),
        "anchor": np.asarray([crop_anchor(new_h, crop_h), crop_anchor(new_w, crop_w)], dtype=np.int32),
    }


def build_pipeline(key: GraphKey, num_threads: int = 1) -> Any:
    """A built DALI pipeline for ``key``; runs synchronously so an error belongs to its own video."""
    from nvidia.dali import fn, pipeline_def, types

    gpu = key.device_id is not None

    @pipeline_def(
        batch_size=1,
        num_threads=num_threads,
        device_id=key.device_id,
        exec_pipelined=False,
        exec_async=False,
        prefetch_queue_depth=1,
    )
    def graph() -> Any:
        encoded = fn.external_source(name="encoded", dtype=types.UINT8, ndim=1)
        frames = fn.external_source(name="frames", dtype=types.INT32, ndim=1)
        video = fn.decoders.video(encoded, device="mixed" if gpu else "cpu", frames=frames, pad_mode="none")
        video = _rotate(fn, video, key.rotation)
        if key.preprocess is None:
            return video
        return _preprocess(fn, types, video, key.preprocess)

    pipe = graph()
    pipe.build()
    return pipe


def _rotate(fn: Any, video: Any, rotation: int) -> Any:
    """Counter-clockwise turns of ``FHWC`` frames, exactly like PIL's ``Image.transpose``."""
    turn = rotation % 360
    if turn == 180:
        return fn.flip(video, horizontal=1, vertical=1)
    if turn in (90, 270):
        # the layout string stays FHWC: the new H is the old W
        video = fn.transpose(video, perm=[0, 2, 1, 3], transpose_layout=False)
        return fn.flip(video, horizontal=0, vertical=1) if turn == 90 else fn.flip(video, horizontal=1)
    return video


def _preprocess(fn: Any, types: Any, video: Any, spec: Preprocess) -> Any:
    interp = {
        "bilinear": types.INTERP_LINEAR,
        "bicubic": types.INTERP_CUBIC,
        "nearest": types.INTERP_NN,
    }[spec.interpolation]
    resize_x = fn.external_source(name="resize_x", dtype=types.FLOAT, ndim=0)
    resize_y = fn.external_source(name="resize_y", dtype=types.FLOAT, ndim=0)
    anchor = fn.external_source(name="anchor", dtype=types.INT32, ndim=1)
    video = fn.resize(
        video,
        resize_x=resize_x,
        resize_y=resize_y,
        mode="stretch",
        interp_type=interp,
        antialias=spec.interpolation != "nearest",
    )
    video = fn.slice(
        video,
        start=anchor,
        shape=[int(spec.crop[0]), int(spec.crop[1])],
        axis_names="HW",
        out_of_bounds_policy="pad",
        fill_values=0,
    )
    return fn.crop_mirror_normalize(
        video,
        dtype=types.FLOAT,
        output_layout="FCHW",
        mean=[255.0 * m for m in spec.mean],
        std=[255.0 * s for s in spec.std],
    )
