"""Benchmark backends x precisions x batch sizes on real videos (:func:`run_bench`).

The names below are loaded on first use, so the torch-free option checks
(:mod:`memo.bench.options`) can run before torch is imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memo.bench.options import BenchOptions
    from memo.bench.rows import COLUMNS, BenchRow
    from memo.bench.runner import BenchReport, run_bench

__all__ = ["COLUMNS", "BenchOptions", "BenchReport", "BenchRow", "run_bench"]
_HOMES = {
    "COLUMNS": "memo.bench.rows",
    "BenchRow": "memo.bench.rows",
    "BenchOptions": "memo.bench.options",
    "BenchReport": "memo.bench.runner",
    "run_bench": "memo.bench.runner",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'memo.bench' has no attribute {name!r}")
