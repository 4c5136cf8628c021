"""The input manifest of a cluster run: one Arrow row per input, built once on the driver.

Columns: ``index`` (int64, the row number, the key the pipeline carries), ``path`` (the
input exactly as local scoring spells it, which is what the ``path`` column of the results
holds), ``key`` (what two spellings of one file share: the absolute path, or the URI),
``size`` and ``mtime`` (bytes and seconds since the epoch; -1 / NaN when the input cannot
be stat'ed, which its row will then say).

Local inputs go through the same listing and discovery as ``memo score`` (folders,
``--files-from``, ``--manifest``), so both engines score the same set of paths spelled the
same way. URIs (``s3://``, ``gs://``, ``file://`` ...) are listed through ``pyarrow.fs``:
a URI that names a folder (prefix) is listed recursively with the same extension and
hidden-file rules as a local folder.

Resume is an anti-join: :func:`pending` keeps the rows whose ``key`` is not among the keys
already in the output, with ``pyarrow.compute.is_in`` (a C++ hash set over an Arrow string
array: about 10M ids × their length in bytes, e.g. 0.8 GB for 10M 80-character paths,
never a Python object per id).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memo.data.discover import discover_videos, normalise_extensions
from memo.errors import InputError

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(text: str) -> bool:
    """``s3://b/k``, ``gs://...``, ``file:///x``: anything with a scheme and ``//``."""
    return bool(URI.match(text))


def local_spelling(text: str) -> str:
    """A local path spelled as ``memo score`` spells it (typer hands it a ``Path``)."""
    return text if is_uri(text) else str(Path(text))


def path_key(text: str) -> str:
    """The key of one input: what ``./a.mp4`` and ``/abs/a.mp4`` share (the URI as given)."""
    return text if is_uri(text) else os.path.normcase(os.path.abspath(text))


def build_manifest(listed: Sequence[str], extensions: Sequence[str]) -> Any:
    """The manifest table of ``listed`` (paths, folders, URIs); folders expanded, sorted, unique.

    Raises :class:`InputError` when nothing at all is found, as local discovery does.
    """
    import pyarrow as pa

    spelled = [local_spelling(item) for item in listed]
    local = [item for item in spelled if not is_uri(item)]
    remote = [item for item in spelled if is_uri(item)]
    rows: dict[str, tuple[str, int, float]] = {}
    if local:
        for path in discover_videos(local, extensions):
            rows.setdefault(path_key(path), (path, *_stat(path)))
    for uri in remote:
        for path, size, mtime in _list_uri(uri, extensions):
            rows.setdefault(path, (path, size, mtime))
    if not rows:
        raise InputError(f"no videos found under {', '.join(spelled[:3])}")
    ordered = sorted(rows.items(), key=lambda item: item[1][0])
    return pa.table(
        {
            "index": pa.array(range(len(ordered)), pa.int64()),
            "path": pa.array([row[0] for _, row in ordered], pa.string()),
            "key": pa.array([key for key, _ in ordered], pa.string()),
            "size": pa.array([row[1] for _, row in ordered], pa.int64()),
            "mtime": pa.array([row[2] for _, row in ordered], pa.float64()),
        }
    )


def _stat(path: str) -> tuple[int, float]:
    try:
        info = os.stat(path)
    except OSError:
        return -1, float("nan")
    return info.st_size, info.st_mtime


def _list_uri(uri: str, extensions: Sequence[str]) -> list[tuple[str, int, float]]:
    """``(uri, size, mtime)`` of the object ``uri`` names, or of every video under the prefix."""
    import pyarrow.fs as pafs

    try:
        fs, root = pafs.FileSystem.from_uri(uri)
        info = fs.get_file_info(root)
    except Exception as exc:  # pyarrow raises several types (bad scheme, credentials, network)
        raise InputError(f"{uri}: cannot list ({' '.join(str(exc).split())})") from exc
    if info.type == pafs.FileType.File:
        return [(uri, info.size or 0, _mtime(info))]
    if info.type == pafs.FileType.NotFound:
        return [(uri, -1, float("nan"))]  # its row will say "no such file", as locally
    wanted = normalise_extensions(extensions)
    prefix = uri.rstrip("/")
    found = []
    for item in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        relative = item.path[len(root.rstrip("/")) :].lstrip("/")
        hidden = any(part.startswith(".") for part in relative.split("/"))
        ext = item.base_name.rsplit(".", 1)[-1].lower() if "." in item.base_name else ""
        if item.type == pafs.FileType.File and not hidden and ext in wanted:
            found.append((f"{prefix}/{relative}", item.size or 0, _mtime(item)))
    return found


def _mtime(info: Any) -> float:
    return info.mtime.timestamp() if info.mtime is not None else float("nan")


def pending(manifest: Any, done_keys: Any) -> Any:
    """The manifest rows whose key is not in ``done_keys`` (an Arrow string array), re-indexed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(done_keys):
        manifest = manifest.filter(pc.invert(pc.is_in(manifest["key"], value_set=done_keys)))
    return manifest.set_column(0, "index", pa.array(range(manifest.num_rows), pa.int64()))
