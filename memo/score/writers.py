"""Result files written as rows finish: CSV, JSON Lines, Parquet.

* CSV and JSONL: each row is appended and flushed as soon as its video is scored, so a
  killed run leaves a valid file with every finished row. A row cut in half by a kill
  (no trailing newline) is dropped when the file is resumed.
* Parquet cannot be appended to (its footer is written last), so finished rows go to a
  JSONL journal beside it (``NAME.parquet.journal.jsonl``) as they finish, and the
  Parquet file is rewritten atomically (:func:`memo.fsio.atomic_path`) every few seconds and
  at the end, after which the journal is removed. A killed run leaves a valid Parquet
  file with the rows up to its last rewrite and the journal with the rest; ``--resume``
  reads both.

Opening an existing file without ``resume`` or ``overwrite`` is refused. On resume, rows
the caller wants redone (``drop``: failed rows, by default) and older duplicates of a path
are removed first by an atomic rewrite (temporary file + rename), so the file always ends
with exactly one row per input.

CSV keeps the full precision of floats (``repr``, which round-trips exactly), like JSONL
and Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from memo.errors import MissingDependency, OutputError
from memo.fsio import atomic_path

#: The columns of every result row after the model's outputs (and --explain's contributions);
#: --per-frame adds ``frame_times`` and ``frame_<output>`` after them.
ROW_COLUMNS = (
    "frames",
    "status",
    "error",
    "warning",
    "model",
    "model_version",
    "backend",
    "seconds",
    "decoder",
)

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


class ResultWriter(Protocol):
    path: Path
    done: dict[str, dict[str, Any]]  # rows already in the file (resume), by path

    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(f"{path}: unknown output format {path.suffix!r} (use .csv, .jsonl or .parquet)")
    return fmt


DropRule = Callable[[dict[str, Any]], bool]


def open_writer(
    path: Path, columns: Sequence[str], *, resume: bool, overwrite: bool, drop: DropRule | None = None
) -> ResultWriter:
    """Open ``path`` for appending rows; on resume, first rewrite it without the rows ``drop`` picks."""
    fmt = output_format(path)
    if resume and overwrite:
        raise OutputError("--resume and --overwrite contradict each other: pick one")
    existing = path.exists() or (fmt == "parquet" and _journal(path).exists())
    if existing and not (resume or overwrite):
        raise OutputError(f"{path}: already exists; use --resume to continue it or --overwrite to replace it")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if overwrite:
            path.unlink(missing_ok=True)
            if fmt == "parquet":
                _journal(path).unlink(missing_ok=True)
        if fmt == "csv":
            return CsvWriter(path, columns, drop)
        if fmt == "jsonl":
            return JsonlWriter(path, columns, drop)
        return ParquetWriter(path, columns, drop=drop)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    except (UnicodeDecodeError, ValueError, csv.Error) as exc:  # JSONDecodeError is a ValueError
        raise OutputError(
            f"{path}: cannot resume, not a readable {fmt.upper()} results file ({exc})"
        ) from exc


def _write_error(path: Path, exc: OSError) -> OutputError:
    """``out.csv: cannot write the results (Not a directory: 'runs')``: one line, cause included."""
    if isinstance(exc, FileExistsError) and exc.filename and str(exc.filename) != str(path):
        return OutputError(f"{path}: cannot write the results ({exc.filename} is a file, not a folder)")
    where = f": {exc.filename!r}" if exc.filename and str(exc.filename) != str(path) else ""
    return OutputError(f"{path}: cannot write the results ({exc.strerror or exc}{where})")


def _check_columns(path: Path, found: Sequence[str], columns: Sequence[str]) -> None:
    if list(found) != list(columns):
        raise OutputError(
            f"{path}: was written with columns {list(found)}, this run writes {list(columns)} "
            "(same model and options needed to resume; or use --overwrite)"
        )


def _drop_partial_last_line(path: Path) -> None:
    """A kill mid-write can leave a last line without newline: cut it off."""
    with open(path, "rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


def _keep(rows: Iterable[dict[str, Any]], drop: DropRule | None) -> tuple[dict[str, dict[str, Any]], bool]:
    """One row per path (the last one written wins) minus the dropped; and whether any went."""
    latest: dict[str, dict[str, Any]] = {}
    count = 0
    for row in rows:
        latest.pop(row["path"], None)  # re-insert: order follows the last write
        latest[row["path"]] = row
        count += 1
    kept = {p: r for p, r in latest.items() if not (drop and drop(r))}
    return kept, len(kept) != count


def _replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then rename over ``path`` (memo.fsio.atomic_path); one-line error on failure."""
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError as exc:
        raise _write_error(path, exc) from exc


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _csv_value(row.get(c)) for c in columns})


def _write_jsonl(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({c: _json_value(row.get(c)) for c in columns}, ensure_ascii=False) + "\n")


class CsvWriter:
    def __init__(self, path: Path, columns: Sequence[str], drop: DropRule | None = None) -> None:
        self.path = path
        self.columns = list(columns)
        self.done: dict[str, dict[str, Any]] = {}
        if path.exists() and path.stat().st_size > 0:
            _drop_partial_last_line(path)
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                _check_columns(path, reader.fieldnames or [], self.columns)
                self.done, changed = _keep(reader, drop)
            if changed:
                _replace_atomically(path, lambda tmp: _write_csv(tmp, self.columns, self.done.values()))
        self._handle = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._csv = csv.DictWriter(self._handle, fieldnames=self.columns, extrasaction="raise")
        if self._handle.tell() == 0:
            self._csv.writeheader()
            self._handle.flush()

    def write(self, row: dict[str, Any]) -> None:
        # One write call per row, so a kill cannot interleave two rows.
        buffer = io.StringIO()
        csv.DictWriter(buffer, fieldnames=self.columns).writerow({k: _csv_value(v) for k, v in row.items()})
        _append(self.path, self._handle, buffer.getvalue())

    def close(self) -> None:
        self._handle.close()


def _append(path: Path, handle: io.TextIOBase, text: str) -> None:
    """Write one whole row and push it to the OS, so a kill after this keeps it."""
    try:
        handle.write(text)
        handle.flush()
    except OSError as exc:  # disk full, file system gone read-only, ...
        raise _write_error(path, exc) from exc


def _csv_value(value: Any) -> Any:
    """Floats as ``repr`` (the shortest text that reads back to the same float)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, list | tuple):
        return " ".join(repr(float(v)) if isinstance(v, float) else str(v) for v in value)
    return value


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: {exc.msg}") from exc
            if not isinstance(row, dict) or "path" not in row:
                raise ValueError(f"line {number}: not a result row (an object with a 'path')")
            rows.append(row)
    return rows


class JsonlWriter:
    def __init__(self, path: Path, columns: Sequence[str], drop: DropRule | None = None) -> None:
        self.path = path
        self.columns = list(columns)
        self.done: dict[str, dict[str, Any]] = {}
        if path.exists() and path.stat().st_size > 0:
            _drop_partial_last_line(path)
            rows = _read_jsonl(path)
            for row in rows:
                _check_columns(path, list(row), self.columns)
            self.done, changed = _keep(rows, drop)
            if changed:
                _replace_atomically(path, lambda tmp: _write_jsonl(tmp, self.columns, self.done.values()))
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, row: dict[str, Any]) -> None:
        text = json.dumps({c: _json_value(row.get(c)) for c in self.columns}, ensure_ascii=False)
        _append(self.path, self._handle, text + "\n")

    def close(self) -> None:
        self._handle.close()


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _journal(path: Path) -> Path:
    return path.with_name(path.name + ".journal.jsonl")


class ParquetWriter:
    """Parquet output: JSONL journal as rows finish + periodic atomic rewrite."""

    def __init__(
        self, path: Path, columns: Sequence[str], every_seconds: float = 5.0, drop: DropRule | None = None
    ) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise MissingDependency("pyarrow", "parquet", "writing .parquet output") from exc
        self.path = path
        self.columns = list(columns)
        self.every_seconds = every_seconds
        self.rows: list[dict[str, Any]] = []
        if path.exists():
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(path)
            except Exception as exc:  # pyarrow raises several types for damaged files
                reason = " ".join(str(exc).split())
                raise OutputError(f"{path}: not a readable Parquet file ({reason})") from exc
            _check_columns(path, table.column_names, self.columns)
            self.rows = table.to_pylist()
        journal = _journal(path)
        if journal.exists():
            _drop_partial_last_line(journal)
            self.rows += _read_jsonl(journal)
        self.done, changed = _keep(self.rows, drop)
        self.rows = list(self.done.values())
        if changed:  # rewrite without them, then start an empty journal: nothing dropped comes back
            self.flush()
            _replace_atomically(journal, lambda tmp: tmp.write_bytes(b""))
        self._journal = open(journal, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._last_flush = time.monotonic()
        self._dirty = bool(self.rows) and journal.stat().st_size > 0

    def write(self, row: dict[str, Any]) -> None:
        clean = {c: _json_value(row.get(c)) for c in self.columns}
        _append(self.path, self._journal, json.dumps(clean, ensure_ascii=False) + "\n")
        self.rows.append(clean)
        self._dirty = True
        if time.monotonic() - self._last_flush >= self.every_seconds:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(self.rows) if self.rows else pa.table({c: [] for c in self.columns})
        table = table.select(self.columns) if self.rows else table
        _replace_atomically(self.path, lambda tmp: pq.write_table(table, tmp))
        self._last_flush = time.monotonic()
        self._dirty = False

    def close(self) -> None:
        if self._dirty or not self.path.exists():
            self.flush()
        self._journal.close()
        _journal(self.path).unlink(missing_ok=True)


def read_results(path: Path) -> list[dict[str, Any]]:
    """Read a result file back (any format), e.g. for tests and summaries; or a folder of
    Parquet parts (``memo score --engine ray``: names starting with ``_`` or ``.`` skipped)."""
    if path.is_dir():
        import pyarrow.dataset as ds

        return ds.dataset(path, format="parquet").to_table().to_pylist()
    fmt = output_format(path)
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if fmt == "jsonl":
        return _read_jsonl(path)
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
