"""The frame decoders by name: the registry (the built-in ones declared here, each imported
when first asked for) and the names a run may choose.

Nothing heavy is imported here (no decoder, NumPy, PyAV or torch), so a command checks
``--decoder`` before loading any of them (:func:`check_decoder_name`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from memo.registry import Registry

if TYPE_CHECKING:
    from memo.data.decoders.base import FrameDecoder

# name -> "module:Class" of the decoder; imported on first use so DALI stays optional.
DECODERS: Registry[FrameDecoder] = Registry(
    "decoder",
    lazy={"pyav": "memo.data.decoders.pyav:PyAVDecoder", "dali": "memo.data.decoders.dali:DaliDecoder"},
    also=("auto",),
)
DECODER_CHOICES: tuple[str, ...] = ("auto", *DECODERS.names())


def register_decoder(name: str) -> Callable[[type], type]:
    """Class decorator of a decoder *outside* memo (the built-in ones are declared in
    :data:`DECODERS`): registers an instance under ``name``; a known name is refused."""

    def decorate(cls: type) -> type:
        if name in DECODERS:
            raise ValueError(f"decoder {name!r} is already registered")
        DECODERS.add(name, cls())
        return cls

    return decorate


def get_decoder(name: str) -> FrameDecoder:
    """The decoder ``name``; :class:`~memo.errors.UnknownName` with close matches when unknown."""
    return DECODERS.get(name)


def check_decoder_name(name: str) -> None:
    """``name`` is ``auto`` or a known decoder (:class:`~memo.errors.UnknownName` with the close
    matches otherwise); whether it can run here is for :func:`~memo.data.decoders.select.resolve_decoder`."""
    if name not in DECODER_CHOICES and name not in DECODERS:
        DECODERS.get(name)  # raises: an unknown name imports nothing
