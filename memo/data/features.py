"""The features stream: precomputed per-video vectors read from files.

Two layouts are read (never unpickled):

* a directory of ``<id>.npy`` files, one float vector per video (``np.load(allow_pickle=False)``);
* a PSBD matrix (the layout of the VideoMem ME2018 COCO-80 features): a 64-byte header
  (magic ``PSBD``, header size as uint64 at byte 8, row bytes at 16, columns at 24) then
  rows of float32, with a row-order file whose line *i* names the video of row *i*
  (``#i <000010> url=[000010.webm]`` or just an id per line).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memo.errors import InputError
from memo.models.spec import InputSpec

MAGIC = b"PSBD"
_ROW = re.compile(r"url=\[([^\]]+)\]|<([^>]+)>")


def read_psbd(path: str | Path) -> np.ndarray:
    """The ``(rows, cols)`` float32 matrix of a PSBD file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read features ({exc.strerror})") from exc
    if len(raw) < 64 or raw[:4] != MAGIC:
        raise InputError(f"{path}: not a PSBD feature matrix (no 'PSBD' magic)")
    header, row_bytes, cols = struct.unpack_from("<QQQ", raw, 8)
    if header < 32 or row_bytes != 4 * cols or cols == 0 or (len(raw) - header) % row_bytes:
        raise InputError(f"{path}: corrupt PSBD header (header={header}, row bytes={row_bytes}, cols={cols})")
    return np.frombuffer(raw, dtype="<f4", offset=header).reshape(-1, cols).astype(np.float32)


def read_row_order(path: str | Path) -> list[str]:
    """Video keys of each row: the numeric part of the name without leading zeros, or the name."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the row-order file ({exc.strerror})") from exc
    keys = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        match = _ROW.search(line)
        name = (match.group(1) or match.group(2)) if match else line.split()[0]
        keys.append(video_key(name))
        if not keys[-1]:
            raise InputError(f"{path}:{number}: cannot read a video name from {line!r}")
    return keys


def video_key(name: str) -> str:
    """A canonical key for a video name: ``video10.webm``, ``000010.webm``, ``10`` -> ``10``."""
    stem = Path(str(name).strip()).name
    stem = stem.split(".")[0]
    digits = re.fullmatch(r"[A-Za-z_-]*0*(\d+)", stem)
    return digits.group(1) if digits else stem


class FeatureTable:
    """Per-video vectors looked up by video key (see :func:`video_key`)."""

    def __init__(self, keys: list[str], matrix: np.ndarray, source: str) -> None:
        if len(keys) != matrix.shape[0]:
            raise InputError(
                f"{source}: {matrix.shape[0]} feature rows but {len(keys)} names in the row order"
            )
        self.index = {k: i for i, k in enumerate(keys)}
        self.matrix = matrix
        self.source = source

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __contains__(self, name: str) -> bool:
        return video_key(name) in self.index

    def lookup(self, name: str) -> np.ndarray:
        row = self.index.get(video_key(name))
        if row is None:
            raise InputError(f"{name}: no features for this video in {self.source}")
        return self.matrix[row]

    def rows(self, names: list[str]) -> np.ndarray:
        return np.stack([self.lookup(n) for n in names]).astype(np.float32)


FeatureSource = str | Path | Sequence[str | Path]


def feature_paths(source: FeatureSource) -> list[Path]:
    """One feature source or several, as a list of paths."""
    if isinstance(source, (str, Path)):
        return [Path(source)]
    return [Path(p) for p in source]


def open_features(source: FeatureSource, row_order: str | Path | None = None) -> FeatureTable:
    """A PSBD matrix (+ row-order file) or a directory of ``<id>.npy`` vectors; several of them
    (e.g. COCO-80 scores of two networks) are concatenated column-wise, in the order given,
    for the videos they all cover (``row_order`` applies to every matrix)."""
    paths = feature_paths(source)
    if not paths:
        raise InputError("--features: no feature file given")
    tables = [_open_one(p, row_order) for p in paths]
    return tables[0] if len(tables) == 1 else concat_tables(tables)


def concat_tables(tables: list[FeatureTable]) -> FeatureTable:
    """The videos every table has (in the first table's order), their vectors side by side."""
    keys = [k for k in tables[0].index if all(k in t.index for t in tables[1:])]
    if not keys:
        names = ", ".join(t.source for t in tables)
        raise InputError(f"{names}: these feature sources have no video in common")
    matrix = np.concatenate([t.matrix[[t.index[k] for k in keys]] for t in tables], axis=1)
    return FeatureTable(keys, matrix, " + ".join(t.source for t in tables))


def _open_one(path: Path, row_order: str | Path | None) -> FeatureTable:
    if path.is_dir():
        files = sorted(path.glob("*.npy"))
        if not files:
            raise InputError(f"{path}: no .npy feature files in this directory")
        vectors = []
        for file in files:
            try:
                vector = np.load(file, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(f"{file}: unreadable .npy features ({exc})") from exc
            vectors.append(np.asarray(vector, dtype=np.float32).reshape(-1))
        if len({v.shape for v in vectors}) != 1:
            raise InputError(f"{path}: feature files have different lengths")
        return FeatureTable([video_key(f.stem) for f in files], np.stack(vectors), str(path))
    if not path.is_file():
        raise InputError(f"{path}: no such features file or directory")
    if row_order is None:
        guess = path.with_name(re.sub(r"_(rn\d+)$", "", path.stem) + "_labels.txt")
        if not guess.is_file():
            raise InputError(f"{path}: a feature matrix needs its row-order file (--feature-rows)")
        row_order = guess
    return FeatureTable(read_row_order(row_order), read_psbd(path), str(path))


class FeatureProvider:
    """``StreamProvider`` for ``memo score``: the features of a video, by its file name."""

    def __init__(self, table: FeatureTable) -> None:
        self.table = table

    def get(self, path: str, spec: InputSpec) -> np.ndarray:
        vector = self.table.lookup(path)
        if spec.dim and vector.shape[0] != spec.dim:
            raise InputError(f"{path}: features have {vector.shape[0]} values, the model expects {spec.dim}")
        return vector
