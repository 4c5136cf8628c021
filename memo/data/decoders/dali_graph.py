"""The DALI pipeline graph memo runs: decode the frames asked for, turn them upright.

One pipeline decodes one video per run (batch size 1): encoded bytes and the frame numbers
to decode come in through ``fn.external_source``; ``fn.decoders.video`` (DALI >= 2.0)
decodes exactly those frames (``pad_mode="none"``: a frame number past the end is an error,
not a silently black frame); a display rotation that is a multiple of 90 degrees is applied
as an exact transpose/flip. The output is ``uint8 (T, H, W, 3)``. Nothing else happens in
DALI: resizing, cropping and normalising are :func:`memo.data.preprocess.preprocess_frames`,
the same for every decoder (DALI's ``fn.resize`` is not PIL's resampling and changed scores
by up to 0.004).

The same graph runs on the CPU (``device="cpu"``, checked against PyAV in the tests) or
with ``device="mixed"`` decoding on NVDEC, which has NOT been run: no GPU was available
when this was written (``benchmarks/gpu_check.py`` checks it; see docs/decoding.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Codecs each DALI backend decodes (``fn.decoders.video`` documentation, DALI 2.4).
CPU_CODECS = frozenset({"vp8", "vp9", "mjpeg"})
GPU_CODECS = CPU_CODECS | {"av1", "mpeg4", "h264", "hevc"}


@dataclass(frozen=True)
class GraphKey:
    """What fixes a pipeline's graph."""

    device_id: int | None  # None: CPU-only pipeline
    rotation: int  # 0, 90, 180 or 270 (counter-clockwise, as PyAV reports it)


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
        return _rotate(fn, video, key.rotation)

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
