"""Static int8 quantisation (QDQ) of a validated fp32 ONNX graph with ONNX Runtime.

What is quantised was chosen by measurement on ResMem (docs/performance.md, "int8"):

* weights int8 per output channel, activations uint8 (asymmetric), QDQ format, so ONNX
  Runtime fuses each ``DequantizeLinear -> Conv -> QuantizeLinear`` into an integer
  convolution (VNNI on AVX-512 / AVX-VNNI CPUs);
* only convolutions (and the residual ``Add`` between quantised convolutions) are
  quantised: the dense head (``Gemm`` / ``MatMul``: a few % of ResMem's arithmetic) stays
  fp32, as do the graph's first convolutions (they read the normalised pixels) and the
  layers an architecture names in :data:`ARCH_EXCLUDE`;
* activation ranges from real frames (:class:`FramesReader`) with the calibration method of
  :data:`DEFAULT_METHOD`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memo.errors import MissingDependency

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

#: Calibration methods of ``onnxruntime.quantization.CalibrationMethod`` memo offers.
METHODS = ("minmax", "entropy", "percentile")
DEFAULT_METHOD = "percentile"
#: Operators quantised (everything else stays fp32).
QUANTISED_OPS = ("Conv", "Add")
#: Node-name fragments kept fp32 per architecture (measured; see the module docstring).
ARCH_EXCLUDE: dict[str, tuple[str, ...]] = {}


def _quantization() -> Any:
    try:
        from onnxruntime import quantization
    except ImportError:
        raise MissingDependency("onnxruntime", "onnx", "int8 quantisation") from None
    return quantization


def _reader_base() -> type:
    return _quantization().CalibrationDataReader  # type: ignore[no-any-return]


def frames_reader(batches: Sequence[Mapping[str, np.ndarray]]) -> Any:
    """An ONNX Runtime calibration reader over ``batches`` (named float32 arrays, one per call)."""

    class FramesReader(_reader_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            self._items = iter(list(batches))

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self._items, None)
            return None if item is None else {k: np.ascontiguousarray(v, np.float32) for k, v in item.items()}

        def rewind(self) -> None:
            self._items = iter(list(batches))

    return FramesReader()


def quantisable_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes int8 would quantise (convolutions and adds)."""
    return [n.name for n in model.graph.node if n.op_type in QUANTISED_OPS]


def excluded_nodes(model: onnx.ModelProto, architecture: str, first: bool = True) -> list[str]:
    """Nodes kept fp32: the convolutions reading a graph input, and the architecture's list."""
    inputs = {i.name for i in model.graph.input}
    fragments = ARCH_EXCLUDE.get(architecture, ())
    out = []
    for node in model.graph.node:
        if node.op_type not in QUANTISED_OPS:
            continue
        reads_input = node.op_type == "Conv" and any(name in inputs for name in node.input)
        if (first and reads_input) or any(f in node.name for f in fragments):
            out.append(node.name)
    return out


def quantise(
    source: Path,
    target: Path,
    batches: Sequence[Mapping[str, np.ndarray]],
    *,
    method: str = DEFAULT_METHOD,
    exclude: Iterable[str] = (),
    ops: Sequence[str] = QUANTISED_OPS,
    cache: Path | None = None,
    moving_average: bool = False,
) -> None:
    """Write ``target``: ``source`` with static QDQ int8 quantisation calibrated on ``batches``."""
    q = _quantization()
    methods = {
        "minmax": q.CalibrationMethod.MinMax,
        "entropy": q.CalibrationMethod.Entropy,
        "percentile": q.CalibrationMethod.Percentile,
    }
    extra: dict[str, Any] = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if method == "percentile":
        extra["CalibPercentile"] = 99.999
    if moving_average:
        extra["CalibMovingAverage"] = True
    q.quantize_static(
        str(source),
        str(target),
        frames_reader(batches),
        quant_format=q.QuantFormat.QDQ,
        op_types_to_quantize=list(ops),
        per_channel=True,
        activation_type=q.QuantType.QUInt8,
        weight_type=q.QuantType.QInt8,
        nodes_to_exclude=list(exclude),
        calibrate_method=methods[method],
        extra_options=extra,
        calibration_cache_path=None if cache is None else str(cache),
    )
