"""Read a results file of ``memo score`` back as typed rows, with its settings record.

RESULTS is what ``memo score`` writes: a ``.csv``, ``.jsonl`` or ``.parquet`` file (with
its ``NAME.memo.json`` sidecar), or a folder of Parquet parts with the same columns (the
distributed engine writes one part per task). A Parquet file's journal
(``NAME.parquet.journal.jsonl``, left by a run that was killed) is read too, so a report of
an interrupted run shows every finished row. One row per path: the last one written wins,
as on ``--resume``.

CSV stores everything as text: numbers and the space-separated per-frame lists
(``frame_times``, ``frame_<output>``) are turned back into floats and lists here, so the
page sees the same values from every format.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memo.errors import MissingDependency, OutputError
from memo.score.writers import ROW_COLUMNS

#: Columns every results file has besides the model's outputs and the optional extras.
FIXED = ("path", *ROW_COLUMNS)
log = logging.getLogger(__name__)


@dataclass
class Results:
    """Every row of a results file, typed, and what is known about how it was scored."""

    source: Path
    columns: list[str]
    rows: list[dict[str, Any]]
    sidecar: dict[str, Any] | None  # the ``memo-scores/1`` record, when found
    parts: int = 1  # files read (Parquet parts of a folder)

    @property
    def outputs(self) -> list[str]:
        """The model's output columns (``score``; ``short_term``, ``long_term`` ...), in file order."""
        return [c for c in self.columns if c not in FIXED and not c.startswith(("contrib_", "frame_"))]

    @property
    def contributions(self) -> list[str]:
        """``contrib_*`` columns (``memo score --explain`` on M3-S bundles)."""
        return [c for c in self.columns if c.startswith("contrib_")]

    @property
    def per_frame(self) -> bool:
        return "frame_times" in self.columns


def read_results(source: Path) -> Results:
    """Read ``source`` (file or folder of Parquet parts); one-line :class:`OutputError` when unusable."""
    if not source.exists():
        raise OutputError(f"{source}: no such results file or folder")
    if source.is_dir():
        columns, rows, parts = _read_parquet_folder(source)
    else:
        columns, rows = _read_file(source)
        parts = 1
    rows = _one_per_path(rows)
    if not rows and not columns:
        raise OutputError(f"{source}: holds no result rows")
    if "path" not in columns:
        raise OutputError(f"{source}: not a memo results file (no 'path' column; columns: {columns[:6]})")
    typed = [_typed(row, columns) for row in rows]
    return Results(source, columns, typed, find_sidecar(source), parts)


def find_sidecar(source: Path) -> dict[str, Any] | None:
    """``NAME.memo.json`` beside the file (or the folder); for a folder also a single one inside it."""
    from memo.score.checks import SUFFIX
    from memo.score.settings import read_sidecar

    try:
        record = read_sidecar(source)
        if record is None and source.is_dir():
            inside = sorted(source.glob(f"*{SUFFIX}"))
            if len(inside) == 1:
                record = read_sidecar(inside[0].with_name(inside[0].name.removesuffix(SUFFIX)))
    except OutputError as exc:  # the rows are still worth a report; the page says the record is missing
        log.warning("%s", str(exc).split("; use --overwrite")[0])
        return None
    return record


def _read_file(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                return list(reader.fieldnames or []), list(reader)
        if suffix == ".jsonl":
            rows = _read_jsonl(path)
            return (list(rows[0]) if rows else []), rows
        if suffix == ".parquet":
            columns, rows = _read_parquet(path)
            journal = path.with_name(path.name + ".journal.jsonl")
            return columns, rows + (_read_jsonl(journal) if journal.exists() else [])
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise OutputError(f"{path}: not a readable results file ({' '.join(str(exc).split())})") from exc
    raise OutputError(f"{path}: unknown results format {path.suffix!r} (use .csv, .jsonl or .parquet)")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """JSON lines; a last line cut in half by a kill (a run still going) is left out."""
    rows: list[dict[str, Any]] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # no newline after it: a row still being written
                break
            raise ValueError(f"line {number}: {exc.msg}") from exc
        if not isinstance(row, dict) or "path" not in row:
            raise ValueError(f"line {number}: not a result row (an object with a 'path')")
        rows.append(row)
    return rows


def _read_parquet(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependency("pyarrow", "parquet", "reading .parquet results") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ValueError(f"not a readable Parquet file: {exc}") from exc
    return list(table.column_names), table.to_pylist()


def _read_parquet_folder(folder: Path) -> tuple[list[str], list[dict[str, Any]], int]:
    parts = sorted(p for p in folder.rglob("*.parquet") if p.is_file() and not p.name.startswith("."))
    if not parts:
        raise OutputError(
            f"{folder}: a folder without .parquet parts (give a results file or a folder of parts)"
        )
    columns: list[str] = []
    rows: list[dict[str, Any]] = []
    for part in parts:
        part_columns, part_rows = _read_file(part)
        columns += [c for c in part_columns if c not in columns]
        rows += part_rows
    return columns, rows, len(parts)


def _one_per_path(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = str(row.get("path"))
        latest.pop(key, None)  # re-insert: order follows the last write
        latest[key] = row
    return list(latest.values())


def _typed(row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """Numbers as floats, per-frame lists as lists, empty text as None (whatever the format)."""
    out: dict[str, Any] = {}
    for column in columns:
        value = row.get(column)
        if value == "":
            value = None
        if column in ("path", "status", "error", "warning", "model", "model_version", "backend", "decoder"):
            out[column] = "" if value is None else str(value)
        elif column.startswith("frame_"):
            out[column] = _float_list(value)
        elif column == "frames":
            out[column] = _int(value)
        else:
            out[column] = _float(value)
    return out


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN -> None


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _float_list(value: Any) -> list[float] | None:
    if value is None:
        return None
    items = value.split() if isinstance(value, str) else list(value)
    numbers = [_float(v) for v in items]
    return [n for n in numbers if n is not None] or None
