"""The one backend interface.

A :class:`Backend` turns a bundle into a :class:`Session`; a session maps a dict of named
arrays (NumPy, or torch tensors already on the right device) to a dict of named NumPy
arrays. Backends live one per module and register by name, so adding ONNX Runtime or
TensorRT is a new module, not a new branch in the callers. How to load is one typed
:class:`~memo.runtime.options.LoadOptions`; each backend names the fields it implements and
:func:`load_session` refuses the others.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from memo.errors import BackendUnavailable
from memo.models.bundle import Bundle
from memo.runtime.options import DEFAULT_OPTIONS, LoadOptions, check_load_options


class Session(Protocol):
    backend: str  # registered name
    device: str  # what actually runs it, e.g. "cpu", "cuda:0", "CPUExecutionProvider"

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]: ...


class Backend(Protocol):
    name: str
    options: frozenset[str]  # the LoadOptions fields this backend implements

    def unavailable_reason(self, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> str | None:
        """``None`` when this backend can run on ``device`` with ``options`` here, else why not."""
        ...

    def load(self, bundle: Bundle, device: str, options: LoadOptions) -> Session: ...


# name -> module that registers it; imported lazily so optional packages stay optional.
_MODULES = {
    "torch": "memo.runtime.torch_backend",
    "onnx": "memo.runtime.onnx_backend",
    "trt": "memo.runtime.trt_backend",
    "auto": "memo.runtime.auto_backend",
}
_BACKENDS: dict[str, Backend] = {}


def register_backend(name: str) -> Callable[[type], type]:
    """Class decorator of a backend module; the module must also be listed in ``_MODULES``."""

    def decorate(cls: type) -> type:
        if name in _BACKENDS:
            raise ValueError(f"backend {name!r} is already registered")
        _BACKENDS[name] = cls()
        return cls

    return decorate


def backend_names() -> list[str]:
    return list(_MODULES)


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS:
        module = _MODULES.get(name)
        if module is None:
            close = difflib.get_close_matches(name, _MODULES, n=2)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise BackendUnavailable(f"unknown backend {name!r} (known: {', '.join(_MODULES)}){hint}")
        importlib.import_module(module)
    return _BACKENDS[name]


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA GPU is visible to torch, else ``cpu``."""
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a core dependency
        return "cpu"


def available_backends(device: str = "cpu") -> dict[str, str | None]:
    """Every known backend -> ``None`` if usable on ``device``, else the reason."""
    out: dict[str, str | None] = {}
    for name in _MODULES:
        try:
            out[name] = get_backend(name).unavailable_reason(device)
        except (ImportError, BackendUnavailable) as exc:
            out[name] = str(exc)
    return out


def load_session(
    bundle: Bundle, backend: str = "torch", device: str = "auto", options: LoadOptions = DEFAULT_OPTIONS
) -> Session:
    """Load ``bundle`` on ``backend``; options the backend does not implement are refused first."""
    impl = get_backend(backend)
    check_load_options(backend, impl.options, options)
    device = resolve_device(device)
    reason = impl.unavailable_reason(device, options)
    if reason:
        raise BackendUnavailable(f"backend {backend!r} cannot run on {device!r}: {reason}")
    return impl.load(bundle, device, options)
