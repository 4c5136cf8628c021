"""The one frame-decoder interface (the registry of decoders by name: :mod:`.names`).

A decoder turns "these presentation times of this video" into frames. Sampling is always
memo's: the times come from memo's own PyAV index pass (:func:`memo.data.decode.index_video`,
which knows the real timestamps of variable-frame-rate video), so every decoder returns the
frame on screen at each time and the decoders differ only in who decodes and resizes.

Two calls per decoder:

* :meth:`FrameDecoder.read` -> :class:`DecodedFrames`: ``uint8`` RGB frames, display
  orientation, on the host (used by tests and tools that compare decoders).
* :meth:`FrameDecoder.preprocessed` -> :class:`FrameBatch`: frames preprocessed as a
  bundle's :class:`~memo.models.spec.Preprocess` says, ``(T, 3, H, W)`` float32; a NumPy
  array, or a torch tensor in device memory when the decoder ran on a GPU.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from memo.data.decode import VideoInfo
from memo.errors import MemoError
from memo.models.spec import Preprocess


class DecoderError(MemoError):
    """A decoder cannot handle one file (codec not supported there, damaged stream, ...)."""


@dataclass
class DecodedFrames:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, display orientation, one per requested time
    times: list[float]  # presentation time of each returned frame
    decoder: str
    warnings: list[str] = field(default_factory=list)

    @property
    def distinct(self) -> int:
        return len(set(self.times))


@dataclass
class FrameBatch:
    array: Any  # (T, 3, H, W) float32: np.ndarray, or a torch tensor on the decoder's device
    times: list[float]
    decoder: str  # the decoder that produced these frames ("pyav", "dali")
    warnings: list[str] = field(default_factory=list)

    @property
    def distinct(self) -> int:
        return len(set(self.times))


class FrameDecoder(Protocol):
    name: str

    def unavailable_reason(self, device: str) -> str | None:
        """``None`` when this decoder can run for ``device`` here, else why not (one line)."""
        ...

    def read(self, path: str, times: Sequence[float], info: VideoInfo) -> DecodedFrames: ...

    def preprocessed(
        self, path: str, times: Sequence[float], info: VideoInfo, preprocess: Preprocess
    ) -> FrameBatch: ...


def frame_indices(info: VideoInfo, times: Sequence[float], tolerance: float = 1e-6) -> list[int]:
    """Index (in presentation order) of the frame on screen at each time: the last with pts <= t.

    The same rule as :func:`memo.data.decode.read_frames_at`, on the same index, so a decoder
    that takes frame numbers decodes exactly the frames PyAV would return.
    """
    last = len(info.frame_times) - 1
    return [min(max(bisect.bisect_right(info.frame_times, t + tolerance) - 1, 0), last) for t in times]
