"""TensorRT backend: deserialise the bundle's engine and run it on a CUDA stream.

NOT RUN IN THIS REPOSITORY'S DEVELOPMENT (no GPU, TensorRT not installable): written
against the documented TensorRT 10/11 Python runtime API (``Runtime``,
``deserialize_cuda_engine``, tensor-address I/O, ``execute_async_v3``). Device buffers
are torch CUDA tensors; batches larger than the profile's MAX are split and a last batch
smaller than MIN is padded (the padding rows are dropped from the outputs).

Option: ``precision`` (which engine of the format table). The runtime never builds: an
engine that no longer matches this GPU / TensorRT version / the bundle's ONNX graph, or
has no metadata, is an error naming ``memo export <bundle> --trt``, which rebuilds it
(:func:`memo.runtime.engine_meta.check_engine`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from memo.errors import BundleError
from memo.formats import export_command, get_format
from memo.models.bundle import Bundle
from memo.runtime.engine_meta import check_engine, current_gpu
from memo.runtime.options import DEFAULT_OPTIONS, LoadOptions

log = logging.getLogger(__name__)


def split_batches(rows: int, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """(start, stop, padded size) chunks covering ``rows`` within a profile's [lo, hi] batch range."""
    chunks = []
    for start in range(0, rows, hi):
        stop = min(rows, start + hi)
        chunks.append((start, stop, max(stop - start, lo)))
    return chunks


class TrtSession:
    backend = "trt"

    def __init__(self, engine: Any, device: str) -> None:
        import tensorrt as trt
        import torch

        self.engine = engine
        self.device = device
        self._torch = torch
        self._device = torch.device(device)
        self.context = engine.create_execution_context()
        self.stream = torch.cuda.Stream(device=self._device)
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.input_names = tuple(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_names = tuple(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        lo, opt, hi = (tuple(s) for s in engine.get_tensor_profile_shape(self.input_names[0], 0))
        self.batch_range = (lo[0], opt[0], hi[0])
        self._dtypes = {n: _torch_dtype(trt, torch, engine.get_tensor_dtype(n)) for n in names}
        self._static: dict[str, Any] = {}

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        torch = self._torch
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise ValueError(f"missing inputs {sorted(missing)}; the engine takes {list(self.input_names)}")
        feed = {n: self._to_device(inputs[n]) for n in self.input_names}
        rows = next(iter(feed.values())).shape[0]
        lo, _opt, hi = self.batch_range
        parts: dict[str, list[Any]] = {n: [] for n in self.output_names}
        with torch.cuda.stream(self.stream):
            for start, stop, size in split_batches(rows, lo, hi):
                chunk = {n: _pad(v[start:stop], size) for n, v in feed.items()}
                out = self._enqueue(chunk)
                for name in self.output_names:
                    parts[name].append(out[name][: stop - start].float().cpu())
        self.stream.synchronize()
        return {n: torch.cat(parts[n]).numpy() for n in self.output_names}

    def _to_device(self, value: Any) -> Any:
        torch = self._torch
        tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))
        return tensor.to(self._device, non_blocking=True)

    def _bind(self, chunk: Mapping[str, Any]) -> dict[str, Any]:
        torch = self._torch
        for name, value in chunk.items():
            value = value.to(self._dtypes[name]).contiguous()
            self.context.set_input_shape(name, tuple(value.shape))
            self.context.set_tensor_address(name, value.data_ptr())
            self._static[name] = value  # keep alive until the stream is done
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            outputs[name] = torch.empty(shape, dtype=self._dtypes[name], device=self._device)
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        return outputs

    def _enqueue(self, chunk: Mapping[str, Any]) -> dict[str, Any]:
        outputs = self._bind(chunk)
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        return outputs


def _pad(value: Any, size: int) -> Any:
    """Repeat the last row so a short batch reaches the profile's minimum."""
    import torch

    short = size - value.shape[0]
    if short <= 0:
        return value
    return torch.cat([value, value[-1:].expand(short, *value.shape[1:])])


def _torch_dtype(trt: Any, torch: Any, dtype: Any) -> Any:
    table = {
        trt.float32: torch.float32,
        trt.float16: torch.float16,
        trt.int32: torch.int32,
        trt.int64: torch.int64,
    }
    if dtype not in table:
        raise BundleError(f"engine tensor type {dtype} is not supported by memo's TensorRT backend")
    return table[dtype]


class TrtBackend:
    name = "trt"
    options = frozenset({"precision"})

    def unavailable_reason(self, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> str | None:
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            return "TensorRT is not installed (pip install 'memo[trt]' on a CUDA machine)"
        import torch

        if not device.startswith("cuda"):
            return "TensorRT runs on a CUDA GPU only (use --device cuda)"
        if not torch.cuda.is_available():
            return "no CUDA GPU is visible"
        return None

    def load(self, bundle: Bundle, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> TrtSession:
        import tensorrt as trt

        engine_file = check_engine(bundle, options.precision, trt.__version__, current_gpu(device))
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(engine_file.read_bytes())
        if engine is None:
            fix = export_command(bundle.path, get_format("trt"), options.precision)
            raise BundleError(
                f"{engine_file}: TensorRT could not deserialise the engine; rebuild it: {fix} --force"
            )
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        return TrtSession(engine, f"cuda:{index}")
