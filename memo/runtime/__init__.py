"""Runtime backends: load a bundle, map named input arrays to named output arrays."""

from memo.runtime.base import Backend, Session, available_backends, get_backend, load_session

__all__ = ["Backend", "Session", "available_backends", "get_backend", "load_session"]
