"""PyTorch eager backend (CPU, or CUDA when present)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from memo.models.bundle import Bundle
from memo.runtime.base import register_backend


class TorchSession:
    backend = "torch"

    def __init__(self, module: torch.nn.Module, device: str, input_names: tuple[str, ...]) -> None:
        self.module = module
        self.device = device
        self.input_names = input_names
        self._device = torch.device(device)

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise ValueError(f"missing inputs {sorted(missing)}; the model takes {list(self.input_names)}")
        with torch.inference_mode():
            feed = {name: _to_tensor(inputs[name], self._device) for name in self.input_names}
            outputs = self.module(**feed)
            return {name: value.float().cpu().numpy() for name, value in outputs.items()}


def _to_tensor(value: Any, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    return torch.from_numpy(np.ascontiguousarray(value)).to(device, non_blocking=True)


@register_backend("torch")
class TorchBackend:
    name = "torch"

    def unavailable_reason(self, device: str) -> str | None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            return "no CUDA GPU is visible to PyTorch"
        if not (device == "cpu" or device.startswith("cuda")):
            return f"unknown device {device!r} (use cpu, cuda or cuda:N)"
        return None

    def load(self, bundle: Bundle, device: str, **options: Any) -> TorchSession:
        module = bundle.build_module().to(device)
        if options.get("half") and device.startswith("cuda"):
            module = module.half()
        return TorchSession(module, device, tuple(i.name for i in bundle.spec.inputs))
