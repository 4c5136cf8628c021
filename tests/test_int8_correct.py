"""The int8 output correction: fitted on calibration outputs only, stored in the graph, applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memo.export.int8_correct import correct_outputs, fit_output_correction, stored_correction

pytest.importorskip("onnxruntime")


def _graph(path: Path, weights: np.ndarray, offset: float) -> Path:
    """``score = sigmoid(x @ weights) + offset``: a stand-in for an fp32 graph and its int8 copy."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p"]),
        helper.make_node("Add", ["p", "offset"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n"])],
        [numpy_helper.from_array(weights.astype(np.float32), "w"),
         numpy_helper.from_array(np.array(offset, np.float32), "offset")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_fit_recovers_a_planted_shift_and_refuses_a_wild_slope() -> None:
    rng = np.random.default_rng(0)
    fp32 = rng.uniform(0.6, 0.9, 200)
    assert fit_output_correction(fp32 - 0.008, fp32, affine=False) == pytest.approx((1.0, 0.008))
    scale, shift = fit_output_correction(0.95 * fp32 + 0.01, fp32)
    assert scale == pytest.approx(1 / 0.95) and shift == pytest.approx(-0.01 / 0.95)
    assert fit_output_correction(0.3 * fp32, fp32)[0] == 1.0  # a slope of 3.3 is no small correction
    with pytest.raises(ValueError, match="matching"):
        fit_output_correction(fp32[:3], fp32)


def test_the_shift_is_fitted_on_calibration_batches_stored_in_the_graph_and_applied(tmp_path) -> None:
    rng = np.random.default_rng(1)
    weights = rng.normal(size=4)
    fp32 = _graph(tmp_path / "fp32.onnx", weights, 0.0)
    int8 = _graph(tmp_path / "int8.onnx", weights, -0.0123)  # a systematic downward shift
    calibration = [{"x": rng.normal(size=(8, 4)).astype(np.float32)} for _ in range(3)]
    record = correct_outputs(fp32, int8, calibration, ["score"])

    fit = record["outputs"]["score"]
    assert fit["rows"] == 24 and record["fitted_on"] == "calibration frames"  # the calibration rows only
    assert fit["shift"] == pytest.approx(0.0123, abs=1e-6) and fit["scale"] == 1.0
    assert fit["calibration_mean_abs_diff_before"] == pytest.approx(0.0123, abs=1e-6)
    assert fit["calibration_mean_abs_diff_after"] < 1e-6
    assert stored_correction(int8) == {"score": pytest.approx((1.0, 0.0123), abs=1e-6)}

    unseen = rng.normal(size=(16, 4)).astype(np.float32)  # inputs the fit never saw
    assert np.max(np.abs(_run(int8, unseen) - _run(fp32, unseen))) < 1e-6
    with pytest.raises(ValueError, match="no graph output"):
        correct_outputs(fp32, int8, calibration, ["missing"])
