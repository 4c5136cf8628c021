"""PyTorch eager backend (CPU, or CUDA when present).

Options: ``precision`` (``fp16`` runs the module in half precision, on CUDA only; inputs
are cast to it and outputs come back as float32) and ``threads`` (PyTorch's intra-op
threads while this session runs; the previous setting is restored after each call, since
it is process-wide).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from memo.models.bundle import Bundle
from memo.runtime.options import DEFAULT_OPTIONS, LoadOptions


class TorchSession:
    backend = "torch"

    def __init__(
        self,
        module: torch.nn.Module,
        device: str,
        input_names: tuple[str, ...],
        dtype: torch.dtype = torch.float32,
        threads: int | None = None,
    ) -> None:
        self.module = module
        self.device = device
        self.input_names = input_names
        self._device = torch.device(device)
        self._dtype = dtype
        self._threads = threads

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise ValueError(f"missing inputs {sorted(missing)}; the model takes {list(self.input_names)}")
        previous = torch.get_num_threads()
        if self._threads:
            torch.set_num_threads(self._threads)
        try:
            with torch.inference_mode():
                feed = {name: self._to_tensor(inputs[name]) for name in self.input_names}
                outputs = self.module(**feed)
                return {name: value.float().cpu().numpy() for name, value in outputs.items()}
        finally:
            if self._threads:
                torch.set_num_threads(previous)

    def _to_tensor(self, value: Any) -> torch.Tensor:
        if not isinstance(value, torch.Tensor):
            value = torch.from_numpy(np.ascontiguousarray(value))
        value = value.to(self._device, non_blocking=True)
        return value.to(self._dtype) if value.is_floating_point() else value


class TorchBackend:
    name = "torch"
    options = frozenset({"precision", "threads"})

    def unavailable_reason(self, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> str | None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            return "no CUDA GPU is visible to PyTorch"
        if not (device == "cpu" or device.startswith("cuda")):
            return f"unknown device {device!r} (use cpu, cuda or cuda:N)"
        if options.precision == "int8":
            return "int8 runs on ONNX Runtime only (memo export --onnx --int8, then --backend onnx)"
        if options.precision == "fp16" and not device.startswith("cuda"):
            return "fp16 PyTorch runs on CUDA only (use --device cuda, or fp32)"
        return None

    def load(self, bundle: Bundle, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> TorchSession:
        module = bundle.build_module().to(device)
        dtype = torch.float16 if options.precision == "fp16" else torch.float32
        if dtype is torch.float16:
            module = module.half()
        names = tuple(i.name for i in bundle.spec.inputs)
        return TorchSession(module, device, names, dtype, options.threads)
