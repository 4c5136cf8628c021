"""The output of a cluster run: a directory of Parquet parts, local or on an object store.

``OUT_DIR/part-<run>-<n>.parquet`` hold the result rows (exactly the columns of local
scoring), ``OUT_DIR/_memo.json`` the settings record (the same record as local scoring's
``NAME.memo.json``) and ``OUT_DIR/_summary.json`` the last run's summary. Names starting
with ``_`` or ``.`` are skipped by pyarrow, Spark and ``*.parquet`` globs, so the directory
reads back as one table.

Every part is written whole: on a local (or mounted) file system to a hidden temporary name
and renamed; on an object store by one upload, which becomes visible only when complete. A
killed driver therefore leaves finished parts and nothing half-written; a resume reads the
``path`` and ``status`` columns of the parts to know what is done. One driver per OUT_DIR
at a time: two concurrent runs into one directory would both score the missing videos.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from memo.errors import OutputError
from memo.score.manifest import is_uri, path_key

SIDECAR = "_memo.json"
SUMMARY = "_summary.json"
PART_PREFIX = "part-"


class OutDir:
    """One output directory behind a ``pyarrow.fs`` file system."""

    def __init__(self, location: str) -> None:
        import pyarrow.fs as pafs

        self.location = location
        try:
            if is_uri(location):
                self.fs, self.root = pafs.FileSystem.from_uri(location)
            else:
                import os

                self.fs, self.root = pafs.LocalFileSystem(), os.path.abspath(location)
        except Exception as exc:  # bad scheme, missing credentials, ...
            raise OutputError(f"{location}: cannot open the output ({_one_line(exc)})") from exc
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        self.run = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
        self._parts_written = 0

    def _path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def kind(self) -> str:
        """``missing``, ``folder`` or ``file``."""
        import pyarrow.fs as pafs

        kind = self.fs.get_file_info(self.root).type
        return {pafs.FileType.Directory: "folder", pafs.FileType.File: "file"}.get(kind, "missing")

    def memo_files(self) -> list[str]:
        """Every file memo wrote here: parts, temporary parts, the settings record, the summary."""
        import pyarrow.fs as pafs

        if self.kind() != "folder":
            return []
        found = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=False))
        names = [info.base_name for info in found if info.type == pafs.FileType.File]
        return [n for n in names if n.startswith((PART_PREFIX, ".part-")) or n in (SIDECAR, SUMMARY)]

    def parts(self) -> list[str]:
        return sorted(
            self._path(n) for n in self.memo_files() if n.startswith(PART_PREFIX) and n.endswith(".parquet")
        )

    def check(self, *, resume: bool, overwrite: bool) -> None:
        """Refuse a file, or a run over earlier results without --resume / --overwrite."""
        if resume and overwrite:
            raise OutputError("--resume and --overwrite contradict each other: pick one")
        kind = self.kind()
        if kind == "file":
            raise OutputError(f"{self.location}: is a file; --engine ray writes a folder of Parquet parts")
        if self.memo_files() and not (resume or overwrite):
            raise OutputError(
                f"{self.location}: already holds results; use --resume to continue or --overwrite to replace them"
            )

    def clear(self) -> None:
        """--overwrite: remove memo's files (only those) from the folder."""
        for name in self.memo_files():
            self.fs.delete_file(self._path(name))

    def read_json(self, name: str) -> dict[str, Any] | None:
        path = self._path(name)
        try:
            with self.fs.open_input_stream(path) as handle:
                return json.loads(handle.read().decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OutputError(
                f"{path}: unreadable ({_one_line(exc)}); use --overwrite to start again"
            ) from exc

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        self._write(name, lambda sink: sink.write(json.dumps(data, indent=2).encode("utf-8")))

    def write_part(self, table: Any) -> str:
        """Write ``table`` as the next part of this run, whole or not at all; its name."""
        import pyarrow.parquet as pq

        self._parts_written += 1
        name = f"{PART_PREFIX}{self.run}-{self._parts_written:06d}.parquet"
        self._write(name, lambda sink: pq.write_table(table, sink))
        return name

    def _write(self, name: str, fill: Any) -> None:
        final = self._path(name)
        try:
            self.fs.create_dir(self.root, recursive=True)
            target = self._path(f".{name}.tmp") if self.local else final
            with self.fs.open_output_stream(target) as sink:
                fill(sink)
            if self.local:
                self.fs.move(target, final)
        except OSError as exc:
            raise OutputError(f"{final}: cannot write the results ({_one_line(exc)})") from exc

    def read_rows(self, columns: list[str] | None = None) -> Any:
        """Every part as one Arrow table (``columns`` only), or ``None`` when there are none."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for part in self.parts():
            try:
                tables.append(pq.read_table(part, filesystem=self.fs, columns=columns))
            except Exception as exc:  # pyarrow raises several types for damaged files
                raise OutputError(f"{part}: not a readable Parquet part ({_one_line(exc)})") from exc
        return pa.concat_tables(tables, promote_options="permissive") if tables else None

    def drop_failed(self, keys: Any) -> int:
        """Rewrite each part without its failed rows of inputs in ``keys`` (resume retries them)."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        dropped = 0
        for part in self.parts():
            table = pq.read_table(part, filesystem=self.fs)
            ours = pa.array([path_key(p) for p in table["path"].to_pylist()], pa.string())
            again = pc.and_(pc.not_equal(table["status"], "ok"), pc.is_in(ours, value_set=keys))
            kept = table.filter(pc.invert(again))
            if kept.num_rows < table.num_rows:
                dropped += table.num_rows - kept.num_rows
                name = part.rsplit("/", 1)[-1]
                if kept.num_rows:
                    self._write(name, lambda sink, kept=kept: pq.write_table(kept, sink))
                else:
                    self.fs.delete_file(part)
        return dropped

    def done_keys(self) -> Any:
        """The keys (:func:`memo.score.manifest.path_key`) of every row already written."""
        import pyarrow as pa

        table = self.read_rows(["path"])
        if table is None:
            return pa.array([], pa.string())
        return pa.array([path_key(p) for p in table["path"].to_pylist()], pa.string())


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
