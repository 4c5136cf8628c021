"""Benchmark backends x precisions x batch sizes on real videos (:func:`run_bench`)."""

from memo.bench.rows import COLUMNS, BenchRow
from memo.bench.runner import BenchOptions, BenchReport, run_bench

__all__ = ["COLUMNS", "BenchOptions", "BenchReport", "BenchRow", "run_bench"]
