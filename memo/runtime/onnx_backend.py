"""ONNX Runtime backend: CPU, CUDA or TensorRT execution providers.

The provider that actually runs the graph is read back from the session and reported
as the session's ``device``; asking for CUDA and getting the CPU provider is an error,
never a silent fallback. On GPU, inputs and outputs go through IO binding.

Options (:class:`~memo.runtime.options.LoadOptions`): ``precision`` (which graph of the
format table), ``threads`` (CPU intra-op threads), ``path`` (a graph file outside the
bundle) and ``tensorrt_ep`` (ONNX Runtime's TensorRT provider first, CUDA only).

Verified here: the CPU provider. The CUDA / TensorRT providers and IO binding are written
against ONNX Runtime's documented Python API and have not been run on a GPU in this repo.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from memo.errors import BackendUnavailable, MissingDependency
from memo.models.bundle import Bundle
from memo.runtime.artifacts import require_artifact
from memo.runtime.options import DEFAULT_OPTIONS, LoadOptions

log = logging.getLogger(__name__)


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependency("onnxruntime", "onnx", "the onnx backend") from None
    return onnxruntime


def cpu_session_options(threads: int | None = None) -> Any:
    """Session options tuned for CPU throughput on a whole machine."""
    ort = _ort()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # incl. NCHWc layouts
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # a CNN is one chain: parallelism inside ops
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = True  # fixed shapes per batch: plan allocations once
    options.enable_cpu_mem_arena = True
    # No busy-waiting between ops: on a shared or oversubscribed CPU spinning threads steal
    # cycles from the workers (measured on the 2-core dev box: not slower, often faster).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    return options


def providers_for(device: str, tensorrt: bool = False, cache_dir: Path | None = None) -> list[Any]:
    """The provider list to ask ONNX Runtime for ``device`` (``cpu``, ``cuda``, ``cuda:N``).

    ``tensorrt`` (``LoadOptions.tensorrt_ep``) puts the TensorRT provider first, with its
    engine and timing caches in ``cache_dir``; it is refused on the CPU. NOT RUN here (no GPU).
    """
    if device == "cpu":
        if tensorrt:
            raise BackendUnavailable(
                "ONNX Runtime's TensorRT provider runs on a CUDA GPU (use --device cuda)"
            )
        return ["CPUExecutionProvider"]
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    providers: list[Any] = []
    if tensorrt:
        trt_options: dict[str, Any] = {"device_id": index, "trt_fp16_enable": False}
        if cache_dir is not None:
            trt_options.update(
                trt_engine_cache_enable=True,
                trt_engine_cache_path=str(cache_dir),
                trt_timing_cache_enable=True,
                trt_timing_cache_path=str(cache_dir),
            )
        providers.append(("TensorrtExecutionProvider", trt_options))
    providers.append(("CUDAExecutionProvider", {"device_id": index}))
    providers.append("CPUExecutionProvider")
    return providers


def check_providers(asked: list[Any], got: list[str]) -> None:
    """Raise when the first provider asked for is not the one the session runs first."""
    want = asked[0] if isinstance(asked[0], str) else asked[0][0]
    if not got or got[0] != want:
        raise BackendUnavailable(
            f"asked ONNX Runtime for {want} but the session runs on {got[0] if got else 'nothing'} "
            "(install onnxruntime-gpu matching your CUDA: pip install 'memo[gpu]')"
        )


class OnnxSession:
    backend = "onnx"

    def __init__(self, session: Any, device: str, gpu_index: int | None) -> None:
        self.session = session
        self.device = device
        self.input_names = tuple(i.name for i in session.get_inputs())
        self.output_names = tuple(o.name for o in session.get_outputs())
        self._gpu_index = gpu_index

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise ValueError(f"missing inputs {sorted(missing)}; the model takes {list(self.input_names)}")
        if self._gpu_index is not None:
            return self._run_bound(inputs)
        feed = {name: _as_array(inputs[name]) for name in self.input_names}
        values = self.session.run(list(self.output_names), feed)
        return dict(zip(self.output_names, values, strict=True))

    def _run_bound(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """IO binding: CUDA tensors are bound in place, host arrays copied once; outputs on device."""
        binding = self.session.io_binding()
        for name in self.input_names:
            value = inputs[name]
            if hasattr(value, "is_cuda") and value.is_cuda:
                value = value.float().contiguous()
                binding.bind_input(
                    name, "cuda", self._gpu_index, np.float32, tuple(value.shape), value.data_ptr()
                )
            else:
                binding.bind_cpu_input(name, _as_array(value))
        for name in self.output_names:
            binding.bind_output(name, "cuda", self._gpu_index)
        self.session.run_with_iobinding(binding)
        return dict(zip(self.output_names, binding.copy_outputs_to_cpu(), strict=True))


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(value, dtype=np.float32)


def open_onnx_session(
    path: Path, device: str = "cpu", threads: int | None = None, tensorrt: bool = False
) -> OnnxSession:
    ort = _ort()
    asked = providers_for(device, tensorrt=tensorrt, cache_dir=path.parent / "ort-trt-cache")
    options = cpu_session_options(threads) if device == "cpu" else _gpu_session_options(ort, threads)
    session = ort.InferenceSession(str(path), sess_options=options, providers=asked)
    got = session.get_providers()
    check_providers(asked, got)
    gpu_index = None if device == "cpu" else (int(device.split(":", 1)[1]) if ":" in device else 0)
    log.info("onnx session on %s (providers %s)", got[0], got)
    return OnnxSession(session, got[0] if gpu_index is None else f"{got[0]}:{gpu_index}", gpu_index)


def _gpu_session_options(ort: Any, threads: int | None) -> Any:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:  # host-side threads (operators that fall back to the CPU)
        options.intra_op_num_threads = threads
    return options


class OnnxBackend:
    name = "onnx"
    options = frozenset({"precision", "threads", "path", "tensorrt_ep"})

    def unavailable_reason(self, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> str | None:
        try:
            ort = _ort()
        except MissingDependency as exc:
            return str(exc)
        if device == "cpu":
            return "the TensorRT provider runs on a CUDA GPU only" if options.tensorrt_ep else None
        if not device.startswith("cuda"):
            return f"unknown device {device!r} (use cpu, cuda or cuda:N)"
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return "this onnxruntime has no CUDAExecutionProvider (pip install 'memo[gpu]' on a CUDA machine)"
        if options.tensorrt_ep and "TensorrtExecutionProvider" not in ort.get_available_providers():
            return (
                "this onnxruntime has no TensorrtExecutionProvider (onnxruntime-gpu with TensorRT libraries)"
            )
        return None

    def load(self, bundle: Bundle, device: str, options: LoadOptions = DEFAULT_OPTIONS) -> OnnxSession:
        path = options.path or require_artifact(bundle, "onnx", options.precision)
        return open_onnx_session(path, device, threads=options.threads, tensorrt=options.tensorrt_ep)
