"""Frame decoders by name (``pyav``, ``dali``) and the run-level choice (``auto``) with fallback."""

from memo.data.decoders.base import (
    DECODER_CHOICES,
    DecodedFrames,
    DecoderError,
    FrameBatch,
    FrameDecoder,
    frame_indices,
    get_decoder,
    register_decoder,
)
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
