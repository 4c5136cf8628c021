"""``--backend auto``: the fastest backend this machine can run for this bundle, and why.

Order (measured on CPU: ONNX Runtime beats PyTorch eager on resmem, see docs/performance.md):
on a GPU, TensorRT when the bundle has an engine and TensorRT is installed, then ONNX
Runtime with the CUDA provider when the bundle has ``model.onnx``, then PyTorch; on the
CPU, ONNX Runtime when the bundle has ``model.onnx``, then PyTorch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from memo.models.bundle import Bundle
from memo.runtime.base import Session, get_backend, register_backend

log = logging.getLogger(__name__)

_ARTIFACT = {"trt": "model.engine", "onnx": "model.onnx"}


def choose_backend(bundle: Bundle, device: str) -> tuple[str, str]:
    """(backend name, reason) for ``bundle`` on ``device``."""
    order = ["trt", "onnx", "torch"] if device.startswith("cuda") else ["onnx", "torch"]
    skipped = []
    for name in order:
        artifact = _ARTIFACT.get(name)
        if artifact and not bundle.artifact(artifact).is_file():
            skipped.append(f"{name}: no {artifact}")
            continue
        reason = get_backend(name).unavailable_reason(device)
        if reason:
            skipped.append(f"{name}: {reason}")
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


@register_backend("auto")
class AutoBackend:
    name = "auto"

    def unavailable_reason(self, device: str) -> str | None:
        return get_backend("torch").unavailable_reason(device)

    def load(self, bundle: Bundle, device: str, **options: Any) -> AutoSession:
        chosen, reason = choose_backend(bundle, device)
        log.info("backend auto: using %s (%s)", chosen, reason)
        return AutoSession(get_backend(chosen).load(bundle, device, **options), chosen, reason)
