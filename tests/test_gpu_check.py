"""``benchmarks/gpu_check.py`` without a GPU: it runs, fast, and says every GPU row is unavailable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, subprocess_env


def test_gpu_check_without_cuda_reports_each_row_unavailable(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: run benchmarks/gpu_check.py itself (docs/performance.md)")
    out = tmp_path / "check" / "gpu.json"
    script = REPO / "benchmarks" / "gpu_check.py"
    done = subprocess.run(
        [sys.executable, str(script), "--json", str(out)],
        capture_output=True, text=True, env=subprocess_env(), timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert len(rows) >= 13
    assert all(row["status"] == "unavailable(no CUDA)" for row in rows)
    checks = " ".join(row["check"] for row in rows)
    for needed in (
        "H.264",
        "HEVC",
        "VP9",
        "DLPack",
        "torch CUDA vs torch CPU",
        "ORT CUDA",
        "model only",
        "memo score",
    ):
        assert needed in checks
    table = done.stdout.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("check"))
    assert len([line for line in table[header + 1 :] if "unavailable(no CUDA)" in line]) == len(rows)
    assert report["environment"]["torch"] and report["seconds"] < 60
