"""Evaluation metrics: Spearman (the benchmarks' ranking metric), Pearson, MSE."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def evaluate(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    if pred.size < 2 or np.ptp(pred) == 0 or np.ptp(target) == 0:
        rho = r = float("nan")
    else:
        rho = float(stats.spearmanr(pred, target).statistic)
        r = float(stats.pearsonr(pred, target).statistic)
    return {"spearman": rho, "pearson": r, "mse": float(np.mean((pred - target) ** 2)), "n": int(pred.size)}


def summarise(folds: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean and (population) std of each metric over folds."""
    out: dict[str, float] = {}
    for key in ("spearman", "pearson", "mse"):
        values = [f[key] for f in folds if not math.isnan(f[key])]
        if values:
            out[f"{key}_mean"] = float(np.mean(values))
            out[f"{key}_std"] = float(np.std(values))
    return out
