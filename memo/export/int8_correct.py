"""An output correction for int8 graphs: ``a * score + b``, fitted on the calibration frames only.

Static int8 quantisation shifts a deep network's output systematically (ResMem: every video
scored 0.001-0.012 lower than fp32, more for higher scores; docs/performance.md, "int8"). The
shift is measured on the **calibration frames** (int8 vs the fp32 graph on the same frames),
fitted by least squares, and written into the int8 graph as two constant tensors applied to
its output (``Mul`` then ``Add``), so every runtime that loads ``model.int8.onnx`` applies it.
Validation then runs on videos not used for calibration, so the fit is judged out of sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Names of the correction's constant tensors and nodes in the int8 graph.
SCALE, SHIFT = "memo_int8_output_scale", "memo_int8_output_shift"
#: A slope outside this band is not a small correction of quantisation error: bias only.
SLOPE_BAND = (0.8, 1.25)


def fit_output_correction(int8: np.ndarray, fp32: np.ndarray, affine: bool = True) -> tuple[float, float]:
    """``(a, b)`` minimising ``|a * int8 + b - fp32|^2`` over calibration outputs (flattened).

    With ``affine=False``, or when the int8 outputs barely vary (a slope would be noise), or
    when the fitted slope leaves :data:`SLOPE_BAND`, only the mean shift is corrected.
    """
    x = np.asarray(int8, np.float64).ravel()
    y = np.asarray(fp32, np.float64).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"correction fit needs matching, non-empty outputs (got {x.shape} and {y.shape})")
    shift_only = (1.0, float(np.mean(y - x)))
    if not affine or x.size < 3 or float(np.std(x)) < 1e-6:
        return shift_only
    slope, intercept = np.polyfit(x, y, 1)
    if not SLOPE_BAND[0] <= slope <= SLOPE_BAND[1]:
        return shift_only
    return float(slope), float(intercept)


def apply_output_correction(path: Path, outputs: Sequence[str], fits: Sequence[tuple[float, float]]) -> None:
    """Rewrite ``path`` so each named graph output becomes ``a * output + b`` (constants stored)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    by_name = {o.name: o for o in graph.output}
    for name, (scale, shift) in zip(outputs, fits, strict=True):
        if name not in by_name:
            raise ValueError(f"{path.name}: no graph output named {name!r} to correct")
        raw = f"{name}_int8_uncorrected"
        for node in graph.node:
            node.output[:] = [raw if o == name else o for o in node.output]
            node.input[:] = [raw if i == name else i for i in node.input]
        scaled = f"{name}_int8_scaled"
        graph.initializer.extend([
            numpy_helper.from_array(np.array(scale, np.float32), f"{SCALE}_{name}"),
            numpy_helper.from_array(np.array(shift, np.float32), f"{SHIFT}_{name}"),
        ])  # fmt: skip
        graph.node.extend([
            helper.make_node("Mul", [raw, f"{SCALE}_{name}"], [scaled], name=f"memo_int8_scale_{name}"),
            helper.make_node("Add", [scaled, f"{SHIFT}_{name}"], [name], name=f"memo_int8_shift_{name}"),
        ])  # fmt: skip
    onnx.save(model, str(path))


def stored_correction(path: Path) -> dict[str, tuple[float, float]]:
    """The corrections written into the graph at ``path``: output name -> (scale, shift)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    values = {i.name: float(numpy_helper.to_array(i)) for i in model.graph.initializer
              if i.name.startswith((SCALE, SHIFT))}  # fmt: skip
    names = {k[len(SCALE) + 1 :] for k in values if k.startswith(SCALE)}
    return {n: (values[f"{SCALE}_{n}"], values[f"{SHIFT}_{n}"]) for n in names}


def correct_outputs(
    fp32: Path, int8: Path, batches: Sequence[Mapping[str, np.ndarray]], outputs: Sequence[str]
) -> dict[str, Any]:
    """Fit the shift of each output on the calibration ``batches`` and write it into ``int8``.

    A shift only (no slope): fitted on a few calibration videos, a slope follows their
    particular scores and did not carry over to other videos (docs/performance.md). Returns
    what ``export.json`` records: the fit, and the calibration error before and after it.
    """
    from memo.runtime.onnx_backend import open_onnx_session

    reference, candidate = open_onnx_session(fp32, "cpu"), open_onnx_session(int8, "cpu")
    missing = sorted(set(outputs) - set(candidate.output_names))
    if missing:
        raise ValueError(f"{int8.name}: no graph output named {missing[0]!r} to correct")
    want: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    got: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    for batch in batches:
        ref, out = reference.run(batch), candidate.run(batch)
        for name in outputs:
            want[name].append(np.asarray(ref[name], np.float64).ravel())
            got[name].append(np.asarray(out[name], np.float64).ravel())
    del reference, candidate
    record: dict[str, Any] = {"fitted_on": "calibration frames", "outputs": {}}
    fits = []
    for name in outputs:
        x, y = np.concatenate(got[name]), np.concatenate(want[name])
        scale, shift = fit_output_correction(x, y, affine=False)
        fits.append((scale, shift))
        record["outputs"][name] = {
            "scale": scale, "shift": shift, "rows": int(x.size),
            "calibration_mean_abs_diff_before": float(np.mean(np.abs(x - y))),
            "calibration_mean_abs_diff_after": float(np.mean(np.abs(scale * x + shift - y))),
        }  # fmt: skip
    apply_output_correction(int8, outputs, fits)
    return record
