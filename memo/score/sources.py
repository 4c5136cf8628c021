"""Where the list of things to score comes from: paths, a list file, a manifest, a caption file.

* ``--files-from FILE``: one path per line (``-`` reads standard input); blank lines are
  skipped; relative paths are relative to the current directory (like ``tar -T``).
* ``--manifest FILE --path-column COL``: a CSV or Parquet table with a column of paths;
  relative paths are relative to the manifest's own folder (a manifest travels with its
  dataset).
* A bundle that needs no frames (text or features only) is scored by id: when no path is
  given at all, every id of the caption file (else of the feature table) is an input
  (:func:`memo.data.streams.provider_ids`), and no video is ever opened.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from memo.errors import InputError, MissingDependency


def read_path_list(source: str | Path, stdin: TextIO | None = None) -> list[str]:
    """The non-blank lines of a list file (``-``: standard input), surrounding spaces stripped."""
    if str(source) == "-":
        lines = (stdin or sys.stdin).read().splitlines()
    else:
        try:
            lines = Path(source).read_text(encoding="utf-8-sig").splitlines()
        except FileNotFoundError:
            raise InputError(f"{source}: no such file (--files-from)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{source}: unreadable path list ({exc})") from exc
    return [line.strip() for line in lines if line.strip()]


def read_manifest(path: Path, column: str) -> list[str]:
    """The ``column`` of a CSV or Parquet manifest, relative paths resolved against its folder."""
    if not path.is_file():
        raise InputError(f"{path}: no such manifest file")
    if path.suffix.lower() == ".parquet":
        values, columns = _parquet_column(path, column)
    else:
        values, columns = _csv_column(path, column)
    if values is None:
        raise InputError(
            f"{path}: no column {column!r} (columns: {', '.join(columns)}); name it with --path-column"
        )
    base = path.parent
    out = []
    for value in values:
        text = "" if value is None else str(value).strip()
        if text:
            out.append(text if Path(text).is_absolute() else str(base / text))
    return out


def _csv_column(path: Path, column: str) -> tuple[list[Any] | None, list[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            if column not in columns:
                return None, columns
            name = (reader.fieldnames or [])[columns.index(column)]
            return [row.get(name) for row in reader], columns
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable manifest CSV ({exc})") from exc


def _parquet_column(path: Path, column: str) -> tuple[list[Any] | None, list[str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependency("pyarrow", "parquet", "reading a .parquet manifest") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: unreadable Parquet manifest ({' '.join(str(exc).split())})") from exc
    if column not in table.column_names:
        return None, list(table.column_names)
    return table.column(column).to_pylist(), list(table.column_names)


def listed_inputs(
    paths: Sequence[str], files_from: str | Path | None, manifest: Path | None, path_column: str
) -> list[str]:
    """Every path named on the command line, in the list file and in the manifest, in that order."""
    out = list(paths)
    if files_from is not None:
        out += read_path_list(files_from)
    if manifest is not None:
        out += read_manifest(manifest, path_column)
    return out
