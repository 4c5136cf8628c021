"""Run PyTorch and an exported artifact on the same real inputs and compare.

Order of checks (optimum's): output names, then shapes (fatal: values are not compared
when shapes differ), then values against the tolerance and the Spearman floor.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from memo.data.inputs import PreparedVideo
from memo.export.parity import parity_problems, spearman
from memo.models.spec import ModelSpec
from memo.runtime.base import Session

log = logging.getLogger(__name__)


@dataclass
class Validation:
    precision: str
    atol: float
    passed: bool = False
    problems: list[str] = field(default_factory=list)
    names_ok: bool = False
    shapes_ok: bool = False
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    spearman: float | None = None
    video_max_abs_diff: float | None = None  # of the per-video scores (int8's bound)
    videos: list[str] = field(default_factory=list)
    rows: int = 0
    reference_scores: list[float] = field(default_factory=list)
    candidate_scores: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def compare_sessions(
    reference: Session,
    candidate: Session,
    spec: ModelSpec,
    samples: Sequence[PreparedVideo],
    precision: str,
    atol: float,
) -> Validation:
    result = Validation(precision=precision, atol=atol, videos=[s.path for s in samples])
    expected = set(spec.output_names)
    diffs: list[np.ndarray] = []
    first = spec.output_names[0]
    for sample in samples:
        want = reference.run(sample.arrays)
        got = candidate.run(sample.arrays)
        if set(want) != expected:
            result.problems.append(
                f"PyTorch outputs {sorted(want)} != config.json outputs {sorted(expected)}"
            )
            return result
        if set(got) != expected:
            result.problems.append(f"output names {sorted(got)} != {sorted(expected)}")
            return result
        result.names_ok = True
        for name in spec.output_names:
            if np.shape(got[name]) != np.shape(want[name]):
                shapes = f"{np.shape(got[name])} != PyTorch {np.shape(want[name])}"
                result.problems.append(f"output {name!r}: shape {shapes} on {sample.path}")
                return result
            diffs.append(
                np.abs(np.asarray(got[name], np.float64) - np.asarray(want[name], np.float64)).ravel()
            )
        result.rows += sample.rows
        result.reference_scores.append(spec.aggregate_rows(want[first]))
        result.candidate_scores.append(spec.aggregate_rows(got[first]))
    result.shapes_ok = True
    every = np.concatenate(diffs)
    result.max_abs_diff = float(every.max())
    result.mean_abs_diff = float(every.mean())
    result.spearman = spearman(result.reference_scores, result.candidate_scores)
    video_diff = np.abs(np.subtract(result.reference_scores, result.candidate_scores))
    result.video_max_abs_diff = float(video_diff.max())
    # int8 bounds the per-video scores (what memo score writes); the other precisions every value
    checked = result.video_max_abs_diff if precision == "int8" else result.max_abs_diff
    result.problems = parity_problems(precision, checked, result.spearman, atol)
    result.passed = not result.problems
    log.info(
        "validation %s: max abs diff %.3g, mean %.3g, Spearman %s over %d videos",
        "passed" if result.passed else "FAILED",
        result.max_abs_diff,
        result.mean_abs_diff,
        "n/a" if result.spearman is None else f"{result.spearman:.5f}",
        len(samples),
    )
    return result
