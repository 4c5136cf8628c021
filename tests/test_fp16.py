"""fp16 ONNX conversion: io stays fp32, sensitive ops stay fp32, parity holds on ONNX Runtime CPU."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxconverter_common")

from memo.export import export_onnx  # noqa: E402
from memo.export.fp16 import FP32_OPS, convert_fp16, tail_nodes  # noqa: E402
from memo.runtime.base import load_session  # noqa: E402
from memo.runtime.options import LoadOptions  # noqa: E402
from tests.exporthelp import spread_framecnn  # noqa: E402

FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


@pytest.fixture(scope="module")
def fp16_export(tmp_path_factory):
    bundle = spread_framecnn(tmp_path_factory.mktemp("fp16") / "framecnn")
    return bundle, export_onnx(bundle, precision="fp16", sample_count=8)


def _elem_types(model):
    inferred = onnx.shape_inference.infer_shapes(model)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    types = {v.name: v.type.tensor_type.elem_type for v in values}
    types.update({i.name: i.data_type for i in inferred.graph.initializer})
    return inferred, types


def test_io_fp32_weights_fp16_sensitive_ops_fp32(fp16_export):
    _bundle, result = fp16_export
    model = onnx.load(str(result.path))
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [FLOAT]
    assert [o.type.tensor_type.elem_type for o in model.graph.output] == [FLOAT]
    inferred, types = _elem_types(model)
    convs = [n for n in inferred.graph.node if n.op_type == "Conv"]
    assert convs and all(types[n.input[1]] == FLOAT16 for n in convs), "conv weights were not converted"
    sensitive = [n for n in inferred.graph.node if n.op_type in FP32_OPS]
    assert any(n.op_type == "Sigmoid" for n in sensitive)
    for node in sensitive:
        assert all(types.get(name) == FLOAT for name in node.input if name), f"{node.name} runs in fp16"
        assert all(types.get(name) == FLOAT for name in node.output), f"{node.name} outputs fp16"


def test_fp16_parity_on_onnxruntime_cpu(fp16_export):
    bundle, result = fp16_export
    check = result.validation
    assert check.passed, check.problems
    assert check.spearman is not None and check.spearman >= 0.995
    assert 0 < check.max_abs_diff <= 1e-2  # fp16 really changed the numbers, within the fp16 tolerance
    assert np.ptp(check.reference_scores) > 0.05  # the spread that makes the rank check meaningful
    x = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    got = load_session(bundle, "onnx", "cpu", LoadOptions(precision="fp16")).run({"frames": x})["score"]
    assert got.dtype == np.float32 and got.shape == (3,)


def test_tail_after_last_weighted_layer_stays_fp32(fp16_export):
    bundle, _ = fp16_export
    model = onnx.load(str(bundle.path / "model.onnx")) if (bundle.path / "model.onnx").exists() else None
    if model is None:
        export_onnx(bundle, sample_count=3)
        model = onnx.load(str(bundle.path / "model.onnx"))
    converted = convert_fp16(model)
    names = {n.name: n.op_type for n in converted.graph.node}
    tail = tail_nodes(converted)
    assert {"Sigmoid", "Squeeze"} <= {names[n] for n in tail if n in names}
    assert not any(names.get(n) in ("Conv", "Gemm") for n in tail)
