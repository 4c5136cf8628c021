"""The one backend interface.

A :class:`Backend` turns a bundle into a :class:`Session`; a session maps a dict of named
arrays (NumPy, or torch tensors already on the right device) to a dict of named NumPy
arrays. Backends live one per module and register by name, so adding ONNX Runtime or
TensorRT is a new module, not a new branch in the callers. How to load is one typed
:class:`~memo.runtime.options.LoadOptions`; each backend names the fields it implements and
:func:`load_session` refuses the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from memo.errors import BackendUnavailable
from memo.models.bundle import Bundle
from memo.registry import Registry
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


# name -> "module:Class" of the backend; imported on first use so optional packages stay optional.
BACKENDS: Registry[Backend] = Registry(
    "backend",
    lazy={
        "torch": "memo.runtime.torch_backend:TorchBackend",
        "onnx": "memo.runtime.onnx_backend:OnnxBackend",
        "trt": "memo.runtime.trt_backend:TrtBackend",
        "auto": "memo.runtime.auto_backend:AutoBackend",
    },
)


def register_backend(name: str) -> Callable[[type], type]:
    """Class decorator of a backend *outside* memo (the built-in ones are declared in
    :data:`BACKENDS`): registers an instance under ``name``; a known name is refused."""

    def decorate(cls: type) -> type:
        if name in BACKENDS:
            raise ValueError(f"backend {name!r} is already registered")
        BACKENDS.add(name, cls())
        return cls

    return decorate


def backend_names() -> list[str]:
    return BACKENDS.names()


def get_backend(name: str) -> Backend:
    """The backend ``name``; :class:`~memo.errors.UnknownName` (a BackendUnavailable) when unknown."""
    return BACKENDS.get(name)


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
    for name in BACKENDS.names():
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
