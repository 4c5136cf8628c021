"""Runtime backends: load a bundle, map named input arrays to named output arrays."""

from memo.runtime.base import Backend, Session, available_backends, get_backend, load_session
from memo.runtime.options import LoadOptions, UnsupportedOption

__all__ = [
    "Backend",
    "LoadOptions",
    "Session",
    "UnsupportedOption",
    "available_backends",
    "get_backend",
    "load_session",
]
