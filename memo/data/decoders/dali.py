"""NVIDIA DALI decoder: FFmpeg on the CPU backend, NVDEC on a GPU (``memo[dali]``).

memo decides which frames (times from its PyAV index pass, turned into frame numbers by
:func:`~memo.data.decoders.base.frame_indices`); DALI decodes exactly those frames from the
file's bytes and turns them upright (:mod:`memo.data.decoders.dali_graph`). DALI only
decodes: resizing, cropping and normalising are memo's one preprocessing
(:func:`memo.data.preprocess.preprocess_frames`), the same arithmetic PyAV's frames get, run
by torch on the GPU when the frames are there, so the decoder never changes how a frame is
resized.

Each decoding thread owns its pipelines (batch size 1, synchronous), so ``--workers N``
keeps N videos decoding at once; on a GPU that is N NVDEC sessions. A file this decoder
cannot take (a codec the backend lacks, a damaged or unreadable stream) raises
:class:`~memo.data.decoders.base.DecoderError`, and the caller falls back to PyAV for that
file only; the pipeline that failed is dropped and rebuilt for the next file.

What has run where: the CPU backend (``device="cpu"``: VP8, VP9, MJPEG) is tested against
PyAV in ``tests/test_dali_decoder.py``. The GPU path (``device="mixed"`` and the hand-over
of frames as CUDA torch tensors by DLPack in :func:`_to_torch`, whose mechanism is checked
on the CPU) is written against DALI's documented API and has NOT been run on a GPU: none
was available when it was written. ``benchmarks/gpu_check.py`` checks it the day one is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from memo.data.decode import VideoInfo
from memo.data.decoders.base import DecodedFrames, DecoderError, FrameBatch, frame_indices
from memo.data.decoders.dali_graph import CPU_CODECS, GPU_CODECS, GraphKey, build_pipeline
from memo.data.decoders.rotation import display_rotation
from memo.data.preprocess import preprocess_frames
from memo.models.spec import Preprocess

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'memo[dali]' (the nvidia-dali-cuda130 wheel)"


def dali_version() -> str | None:
    """The installed DALI version, or ``None`` when DALI cannot be imported."""
    try:
        import nvidia.dali as dali
    except ImportError:
        return None
    return str(dali.__version__)


def device_id(device: str) -> int | None:
    """memo device -> DALI ``device_id``: ``None`` for a CPU-only pipeline, else the GPU number."""
    if device == "cpu":
        return None
    if device == "cuda":
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise DecoderError(f"DALI decoder: unknown device {device!r} (use cpu, cuda or cuda:N)")


class DaliDecoder:
    name = "dali"

    def __init__(self) -> None:
        self._local = threading.local()
        self.device = "cpu"  # set by :meth:`on`: where the pipelines run

    def on(self, device: str) -> DaliDecoder:
        """This decoder with its pipelines on ``device`` (``cpu``, ``cuda``, ``cuda:N``)."""
        device_id(device)  # checks the name
        decoder = DaliDecoder()
        decoder.device = device
        return decoder

    def unavailable_reason(self, device: str) -> str | None:
        if dali_version() is None:
            return f"NVIDIA DALI is not installed: {INSTALL_HINT}"
        if device != "cpu":
            import torch

            if not torch.cuda.is_available():
                return f"DALI on {device!r} needs a CUDA GPU visible to PyTorch, and none is"
        return None

    def unsupported(self, info: VideoInfo) -> str | None:
        """Why this file is not for DALI on this device (checked before any decoding), or None."""
        gpu = self.device != "cpu"
        codecs = GPU_CODECS if gpu else CPU_CODECS
        if info.codec not in codecs:
            where = "GPU" if gpu else "CPU"
            return f"DALI's {where} backend does not decode {info.codec} (it decodes {', '.join(sorted(codecs))})"
        return None

    def read(self, path: str, times: Sequence[float], info: VideoInfo) -> DecodedFrames:
        rotation, indices = self._plan(path, times, info)
        out = self._run(path, GraphKey(device_id(self.device), rotation), indices)
        frames = np.array(out.as_cpu() if hasattr(out, "as_cpu") else out)
        return DecodedFrames(frames, [info.frame_times[i] for i in indices], self.name, list(info.warnings))

    def preprocessed(
        self, path: str, times: Sequence[float], info: VideoInfo, preprocess: Preprocess
    ) -> FrameBatch:
        rotation, indices = self._plan(path, times, info)
        out = self._run(path, GraphKey(device_id(self.device), rotation), indices)
        # uint8 frames: a host array, or a CUDA tensor that never leaves the GPU
        frames = np.array(out) if self.device == "cpu" else _to_torch(out)
        array = preprocess_frames(frames, preprocess)
        return FrameBatch(array, [info.frame_times[i] for i in indices], self.name, list(info.warnings))

    def _plan(self, path: str, times: Sequence[float], info: VideoInfo) -> tuple[int, list[int]]:
        reason = self.unsupported(info)
        if reason:
            raise DecoderError(f"{path}: {reason}")
        rotation = display_rotation(path)
        if rotation % 90:
            raise DecoderError(
                f"{path}: display rotation of {rotation} degrees (DALI path turns by 90s only)"
            )
        return rotation, frame_indices(info, times)

    def _run(self, path: str, key: GraphKey, indices: list[int]) -> Any:
        """Decode one video; returns the output as a DALI tensor (batch of one)."""
        pipes: dict[GraphKey, Any] = self._local.__dict__.setdefault("pipes", {})
        try:
            pipe = pipes.get(key)
            if pipe is None:
                pipe = pipes[key] = build_pipeline(key)
            pipe.feed_input("encoded", [np.fromfile(path, dtype=np.uint8)])
            pipe.feed_input("frames", [np.asarray(indices, dtype=np.int32)])
            (out,) = pipe.run()
            return out[0]  # the one sample: (T, H, W, 3) uint8
        except Exception as exc:  # DALI raises RuntimeError/IndexError/... with a long report
            pipes.pop(key, None)  # a pipeline that failed is not reused
            raise DecoderError(f"{path}: DALI could not decode it ({_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    """The informative line of DALI's multi-line error report."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if "encountered:" in lines[:-1]:  # "Error in CPU operator ... encountered:\n<the cause>"
        lines = lines[lines.index("encountered:") + 1 :]
    for line in lines:
        if line.startswith("[/") and "] " in line:  # "[/opt/dali/...cc:253] Codec 27 (h264) is not ..."
            line = line.split("] ", 1)[1]
        if line and not line.startswith(("File ", "Critical error", "Error in", "which was used")):
            return line
    return type(exc).__name__


def _to_torch(tensor: Any) -> Any:
    """A DALI tensor -> a torch tensor on the same device, by DLPack (no trip through the host).

    ``torch.from_dlpack`` gives a zero-copy view (on a GPU, the DLPack protocol hands torch's
    current stream to DALI, which orders its work before it); the view is then cloned on the
    same device, because DALI reuses its output buffers on the next run of the pipeline.
    Checked on the CPU (``test_dlpack_handover_on_the_cpu``); on a GPU NOT RUN (no GPU was
    available when this was written).
    """
    import torch

    return torch.from_dlpack(tensor).clone()
