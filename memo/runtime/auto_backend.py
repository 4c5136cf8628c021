"""``--backend auto``: the fastest backend this machine can run for this bundle, and why.

Order (measured on CPU: ONNX Runtime beats PyTorch eager on resmem, see docs/performance.md):
on a GPU, TensorRT when the bundle has an engine and TensorRT is installed, then ONNX
Runtime with the CUDA provider when the bundle has ``model.onnx``, then PyTorch; on the
CPU, ONNX Runtime when the bundle has ``model.onnx``, then PyTorch. Artifact names come
from the format table (:mod:`memo.formats`), at the precision asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from memo.errors import BackendUnavailable
from memo.models.bundle import Bundle
from memo.runtime.artifacts import missing_artifact
from memo.runtime.base import Session, get_backend
from memo.runtime.options import DEFAULT_OPTIONS, LoadOptions, check_load_options

log = logging.getLogger(__name__)

GPU_ORDER = ("trt", "onnx", "torch")
CPU_ORDER = ("onnx", "torch")


def choose_backend(bundle: Bundle, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> tuple[str, str]:
    """(backend name, reason) for ``bundle`` on ``device`` with ``options``."""
    order = GPU_ORDER if device.startswith("cuda") else CPU_ORDER
    skipped = []
    for name in order:
        backend = get_backend(name)
        unknown = [o for o in options.given() if o not in backend.options]
        reason = (
            f"does not take {', '.join(unknown)}"
            if unknown
            else missing_artifact(bundle, name, options.precision)
            or backend.unavailable_reason(device, options)
        )
        if reason:
            skipped.append(f"{name}: {reason.split(';')[0]}")
            continue
        why = f"fastest available on {device}" + (f" (skipped {'; '.join(skipped)})" if skipped else "")
        return name, why
    return "torch", "; ".join(skipped)


class AutoSession:
    backend = "auto"

    def __init__(self, inner: Session, chosen: str, reason: str) -> None:
        self.inner = inner
        self.chosen = chosen
        self.reason = reason
        self.device = f"{chosen}/{inner.device}"

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return self.inner.run(inputs)


class AutoBackend:
    name = "auto"
    # What the backends it chooses from take; a backend that does not take a given option is skipped.
    options = frozenset({"precision", "threads"})

    def unavailable_reason(self, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> str | None:
        return None  # torch, the last resort, says why it cannot run when it is loaded

    def load(self, bundle: Bundle, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> AutoSession:
        chosen, reason = choose_backend(bundle, device, options)
        log.info("backend auto: using %s (%s)", chosen, reason)
        impl = get_backend(chosen)
        check_load_options(chosen, impl.options, options)
        if impl.unavailable_reason(device, options):  # the fallback cannot run either
            raise BackendUnavailable(f"backend auto found nothing that runs on {device!r}: {reason}")
        return AutoSession(impl.load(bundle, device, options), chosen, reason)
