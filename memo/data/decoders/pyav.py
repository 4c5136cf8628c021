"""PyAV (FFmpeg on the CPU) + PIL: memo's reference decoder, available everywhere."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memo.data.decode import SampledFrames, VideoInfo, read_frames_at
from memo.data.decoders.base import DecodedFrames, FrameBatch
from memo.data.preprocess import preprocess_frames
from memo.models.spec import Preprocess


def _warnings(sample: SampledFrames) -> list[str]:
    return list(sample.warnings)


class PyAVDecoder:
    name = "pyav"

    def unavailable_reason(self, device: str) -> str | None:
        return None  # decodes on the CPU whatever the model's device

    def read(self, path: str, times: Sequence[float], info: VideoInfo) -> DecodedFrames:
        sample = read_frames_at(path, times, info)
        frames = np.stack([np.asarray(image.convert("RGB")) for image in sample.images])
        return DecodedFrames(frames, list(sample.times), self.name, _warnings(sample))

    def preprocessed(
        self, path: str, times: Sequence[float], info: VideoInfo, preprocess: Preprocess
    ) -> FrameBatch:
        sample = read_frames_at(path, times, info)
        array = preprocess_frames(sample.images, preprocess)
        return FrameBatch(array, list(sample.times), self.name, _warnings(sample))
