"""Write bench reports as CSV (one row per line, fixed columns) or JSON."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from memo.bench.rows import COLUMNS
from memo.bench.runner import BenchReport
from memo.fsio import atomic_open


def write_csv(report: BenchReport, path: Path) -> None:
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*COLUMNS, "model", "cpu", "gpu"])
        writer.writeheader()
        env = report.environment
        for row in report.rows:
            data = {k: v for k, v in row.to_json().items() if k in COLUMNS}
            writer.writerow({**data, "model": report.model, "cpu": env.get("cpu"), "gpu": env.get("gpu")})


def to_json_text(report: BenchReport) -> str:
    return json.dumps(report.to_json(), indent=2)
