"""Write bench reports as CSV (one row per line, fixed columns) or JSON."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

from memo.bench.rows import COLUMNS
from memo.bench.runner import BenchReport


def write_csv(report: BenchReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=[*COLUMNS, "model", "cpu", "gpu"])
            writer.writeheader()
            env = report.environment
            for row in report.rows:
                data = {k: v for k, v in row.to_json().items() if k in COLUMNS}
                writer.writerow({**data, "model": report.model, "cpu": env.get("cpu"), "gpu": env.get("gpu")})
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json_text(report: BenchReport) -> str:
    return json.dumps(report.to_json(), indent=2)
