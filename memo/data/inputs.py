"""Turn one video path into the named arrays a model spec asks for."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from memo.data.decode import clip_times, index_video, keyframe_times
from memo.data.decoders import DecoderChoice, resolve_decoder
from memo.data.lowlevel import lowlevel_array
from memo.errors import BundleError
from memo.models.spec import InputSpec, ModelSpec


class StreamProvider(Protocol):
    """Supplies a non-visual input (caption embedding, precomputed features) for a video."""

    def get(self, path: str, spec: InputSpec) -> np.ndarray:
        """A float32 vector of ``spec.dim`` values, or raise :class:`memo.errors.InputError`."""
        ...


@dataclass
class PreparedVideo:
    path: str
    arrays: dict[str, np.ndarray]  # leading axis = rows (frames for unit "frame", 1 for unit "video")
    rows: int
    frames: int  # frames decoded and used
    seconds: float
    warnings: list[str] = field(default_factory=list)
    decoder: str = ""  # decoder(s) that produced the frames, e.g. "pyav", "dali"; "" without frames
    times: list[float] = field(default_factory=list)  # presentation time (s) of each frame row used


def prepare_video(
    path: str,
    spec: ModelSpec,
    providers: Mapping[str, StreamProvider] | None = None,
    decoder: DecoderChoice | None = None,
) -> PreparedVideo:
    """Decode, sample and preprocess ``path`` for ``spec``; raises InputError on bad input.

    ``decoder`` (default: PyAV) decodes and preprocesses the frames memo's index pass picks;
    with DALI on a GPU the frame arrays are torch CUDA tensors.
    """
    started = time.perf_counter()
    providers = providers or {}
    decoder = decoder or resolve_decoder("pyav", "cpu")
    used: list[str] = []
    arrays: dict[str, np.ndarray] = {}
    warnings: list[str] = []
    frames_used = 0
    frame_times: list[float] = []
    info = None
    for input_spec in spec.inputs:
        if input_spec.stream in ("keyframes", "clip"):
            info = info or index_video(path)
            if input_spec.stream == "keyframes":
                times = keyframe_times(info, input_spec.num_frames)
            else:
                times = clip_times(info, input_spec.num_frames, float(input_spec.fps or 0))
            assert input_spec.preprocess is not None  # checked by InputSpec
            sample = decoder.preprocessed(path, times, info, input_spec.preprocess)
            array = sample.array
            used.append(sample.decoder)
            frames_used = max(frames_used, sample.distinct)
            frame_times = frame_times or [float(t) for t in sample.times]
            warnings.extend(sample.warnings)
            if sample.distinct < len(times):
                warnings.append(
                    f"only {sample.distinct} distinct frame(s) for {len(times)} samples; frames repeated"
                )
            if input_spec.stream == "clip":
                # (C, T, H, W), the layout of 3D CNNs; a torch tensor (DALI on a GPU) is permuted
                array = (
                    array.permute(1, 0, 2, 3) if hasattr(array, "permute") else array.transpose(1, 0, 2, 3)
                )
            arrays[input_spec.name] = array if spec.unit == "frame" else array[None]
        elif input_spec.stream == "lowlevel":
            info = info or index_video(path)
            arrays[input_spec.name] = lowlevel_array(path, input_spec, info)[None]
            frames_used = max(frames_used, input_spec.num_frames)
        else:
            provider = providers.get(input_spec.stream)
            if provider is None:
                raise BundleError(
                    f"model {spec.name!r} needs a {input_spec.stream} input ({input_spec.name!r}) "
                    "and none was given"
                )
            arrays[input_spec.name] = np.asarray(provider.get(path, input_spec), dtype=np.float32)[None]
    rows = next(iter(arrays.values())).shape[0]
    seconds = time.perf_counter() - started
    decoder_names = "+".join(dict.fromkeys(used))
    return PreparedVideo(path, arrays, rows, frames_used, seconds, warnings, decoder_names, frame_times)
