"""Numbers that say how close an exported artifact is to PyTorch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Minimum Spearman rank correlation of per-video scores against PyTorch fp32.
SPEARMAN_FLOOR: dict[str, float] = {"fp32": 0.999, "fp16": 0.995, "int8": 0.995}
#: Maximum absolute difference of any output value for fp16 builds (fp32 uses the bundle's export_atol).
FP16_ATOL = 1e-2
#: int8: maximum absolute difference of the per-video scores (frame values are not bounded one by one).
INT8_ATOL = 1e-2


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):  # average ranks of ties
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho; ``None`` when undefined (fewer than 3 values, or one side constant)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"spearman needs two 1-d sequences of one length, got {x.shape} and {y.shape}")
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rx, ry = _ranks(x), _ranks(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def tolerance(precision: str, export_atol: float) -> float:
    if precision == "int8":
        return max(export_atol, INT8_ATOL)
    return export_atol if precision == "fp32" else max(export_atol, FP16_ATOL)


def parity_problems(precision: str, max_abs_diff: float, rho: float | None, atol: float) -> list[str]:
    """Why a result misses the floors (empty when it passes)."""
    problems = []
    if not np.isfinite(max_abs_diff) or max_abs_diff > atol:
        problems.append(f"max abs diff {max_abs_diff:.3g} > atol {atol:.3g}")
    floor = SPEARMAN_FLOOR[precision]
    if rho is None and precision == "int8":  # int8 is gated on ranks: they must be checkable
        problems.append("Spearman undefined (constant scores over the validation videos): ranks unchecked")
    if rho is not None and rho < floor:
        problems.append(f"Spearman {rho:.4f} < {floor} ({precision} floor)")
    return problems
