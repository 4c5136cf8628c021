"""Frame decoders by name (``pyav``, ``dali``) and the run-level choice (``auto``) with fallback.

The names below are loaded on first use, so the decoder names (:mod:`.names`) can be checked
before NumPy, PyAV or torch is imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memo.data.decoders.base import DecodedFrames, DecoderError, FrameBatch, FrameDecoder, frame_indices
    from memo.data.decoders.names import DECODER_CHOICES, get_decoder, register_decoder
    from memo.data.decoders.select import DecoderChoice, resolve_decoder

__all__ = [
    "DECODER_CHOICES",
    "DecodedFrames",
    "DecoderChoice",
    "DecoderError",
    "FrameBatch",
    "FrameDecoder",
    "frame_indices",
    "get_decoder",
    "register_decoder",
    "resolve_decoder",
]
_HOMES = {
    **dict.fromkeys(("DecodedFrames", "DecoderError", "FrameBatch", "FrameDecoder", "frame_indices"), "base"),
    **dict.fromkeys(("DECODER_CHOICES", "get_decoder", "register_decoder"), "names"),
    **dict.fromkeys(("DecoderChoice", "resolve_decoder"), "select"),
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"memo.data.decoders.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'memo.data.decoders' has no attribute {name!r}")
