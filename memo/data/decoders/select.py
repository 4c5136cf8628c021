"""Pick a decoder for a run (``auto``, ``pyav``, ``dali``) and fall back per file.

``auto`` picks DALI when it is installed and the model runs on a CUDA device, else PyAV,
and logs which one it picked and why. With DALI, a file DALI cannot take falls back to
PyAV for that file only; :class:`~memo.data.decoders.base.FrameBatch.decoder` says which
decoder produced each file's frames and a warning says why it fell back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from memo.data.decode import VideoInfo
from memo.data.decoders.base import DecodedFrames, DecoderError, FrameBatch, FrameDecoder
from memo.data.decoders.names import DECODER_CHOICES, get_decoder
from memo.errors import MemoError, MissingDependency
from memo.models.spec import Preprocess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecoderChoice:
    """The decoder a run uses, the one it falls back to per file, and why it was picked."""

    primary: FrameDecoder
    fallback: FrameDecoder | None
    reason: str

    @property
    def name(self) -> str:
        return self.primary.name

    def read(self, path: str, times: Sequence[float], info: VideoInfo) -> DecodedFrames:
        try:
            return self.primary.read(path, times, info)
        except DecoderError as exc:
            if self.fallback is None:
                raise
            frames = self.fallback.read(path, times, info)
            frames.warnings.insert(0, _fell_back(exc, self.fallback.name))
            return frames

    def preprocessed(
        self, path: str, times: Sequence[float], info: VideoInfo, preprocess: Preprocess
    ) -> FrameBatch:
        try:
            return self.primary.preprocessed(path, times, info, preprocess)
        except DecoderError as exc:
            if self.fallback is None:
                raise
            log.info("%s", exc)
            batch = self.fallback.preprocessed(path, times, info, preprocess)
            batch.warnings.insert(0, _fell_back(exc, self.fallback.name))
            return batch


def _fell_back(exc: DecoderError, name: str) -> str:
    return f"decoded with {name}: {exc}"


def resolve_decoder(name: str, device: str) -> DecoderChoice:
    """``name`` (auto, pyav, dali) for a model on ``device`` (already resolved: cpu, cuda, cuda:N).

    Raises :class:`MissingDependency` for ``dali`` without DALI installed and
    :class:`MemoError` for an unknown name or a device DALI cannot use; call it before any work.
    """
    if name not in DECODER_CHOICES:
        get_decoder(name)  # raises with close matches
    pyav = get_decoder("pyav")
    if name == "pyav":
        return DecoderChoice(pyav, None, "asked for")
    from memo.data.decoders.dali import DaliDecoder, dali_version

    installed = dali_version() is not None
    if name == "auto":
        if not installed:
            choice = DecoderChoice(pyav, None, "auto: NVIDIA DALI is not installed")
        elif not device.startswith("cuda"):
            choice = DecoderChoice(pyav, None, f"auto: the model runs on {device}, DALI is used on CUDA only")
        else:
            choice = DecoderChoice(DaliDecoder().on(device), pyav, f"auto: DALI {dali_version()} on {device}")
        log.info("decoder %s (%s)", choice.name, choice.reason)
        return choice
    if not installed:
        raise MissingDependency("nvidia-dali-cuda130", "dali", "--decoder dali")
    dali = DaliDecoder().on(device)
    reason = dali.unavailable_reason(device)
    if reason:
        raise MemoError(f"--decoder dali: {reason}")
    return DecoderChoice(dali, pyav, f"asked for (DALI {dali_version()} on {device})")
