"""Static int8 quantisation (QDQ) of a validated fp32 ONNX graph with ONNX Runtime.

What is quantised was chosen by measurement on ResMem (docs/performance.md, "int8"):

* weights int8 per output channel, activations uint8 (asymmetric), QDQ format, so ONNX
  Runtime fuses each ``DequantizeLinear -> Conv -> QuantizeLinear`` into an integer
  convolution (VNNI on AVX-512 / AVX-VNNI CPUs);
* only convolutions are quantised, with the ``Relu`` that follows one folded into its output
  range (ONNX Runtime adjusts a convolution's output range to its ``Relu``'s only when the
  ``Relu`` is among the quantised operators, then removes the ``Relu``). Quantising the
  residual ``Add`` too doubled ResMem's frame-level error (std 0.0087 -> 0.0158) and swapped
  videos, so the adds stay fp32. The dense head (``Gemm`` / ``MatMul``: a few % of ResMem's
  arithmetic) stays fp32, as do the convolutions that read the graph's inputs (the
  normalised pixels);
* per architecture, the stages whose quantisation costs the most accuracy per unit of
  arithmetic stay fp32 (:data:`ARCH_EXCLUDE`, from a per-stage sensitivity search in
  ``benchmarks/int8_robust.py``);
* activation ranges from real frames (:func:`frames_reader`), MinMax by default: ONNX
  Runtime's percentile calibrator fails on ResMem ("Too many bins for data range", a
  near-constant tensor); entropy (also histogram-based) was not measured on ResMem. Both are
  offered for other models; a calibrator failure is an :class:`ExportError` naming the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memo.errors import MissingDependency
from memo.export.errors import ExportError
from memo.export.options import CALIBRATION_METHODS

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

#: Calibration methods of ``onnxruntime.quantization.CalibrationMethod`` memo offers.
METHODS = CALIBRATION_METHODS
DEFAULT_METHOD = "minmax"
#: Operators quantised (everything else stays fp32).
QUANTISED_OPS = ("Conv",)
#: Activations folded into the quantised operator before them (their range becomes its output's).
FUSED_ACTIVATIONS = ("Relu",)
#: Node-name fragments kept fp32 per architecture (measured, docs/performance.md "int8"):
#: quantising only ResMem's ``layer1`` (3 blocks, ~6% of the arithmetic) gave a frame-level
#: error std of 0.0062, ``layer2`` 0.0038, each third of ``layer3`` 0.0040-0.0047, ``layer4``
#: 0.0023. Keeping ``layer1`` and ``layer2`` fp32 took the per-video error on held-out videos
#: from 0.0095 to 0.0075 (0.0026 after the output shift, int8_correct); keeping ``layer4``
#: fp32 as well changed that by 0.0001 and cost 27% of the int8 throughput, so it is int8.
ARCH_EXCLUDE: dict[str, tuple[str, ...]] = {"resmem": ("/features/layer1/", "/features/layer2/")}


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
    """Names of the nodes int8 would quantise."""
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
    ops: Sequence[str] = QUANTISED_OPS + FUSED_ACTIVATIONS,
    cache: Path | None = None,
    moving_average: bool = False,
) -> None:
    """Write ``target``: ``source`` with static QDQ int8 quantisation calibrated on ``batches``."""
    q = _quantization()
    exclude = list(exclude)
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
    logging.disable(logging.WARNING)  # ONNX Runtime's quantiser advises on the root logger
    try:
        _quantize_static(q, source, target, batches, ops, exclude, methods[method], extra, cache)
    except ValueError as exc:  # ONNX Runtime's calibrators report data problems as ValueError
        raise ExportError(
            f"int8 calibration ({method}) failed on this graph: {exc} (try --calibration-method minmax)"
        ) from None
    finally:
        logging.disable(logging.NOTSET)


def _quantize_static(
    q: Any,
    source: Path,
    target: Path,
    batches: Sequence[Mapping[str, np.ndarray]],
    ops: Sequence[str],
    exclude: Iterable[str],
    method: Any,
    extra: dict[str, Any],
    cache: Path | None,
) -> None:
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
        calibrate_method=method,
        extra_options=extra,
        calibration_cache_path=None if cache is None else str(cache),
    )
