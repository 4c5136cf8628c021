"""Per-video arrays computed from a video under fixed settings, cached on disk one file per video.

Training from video computes the same things over and over across runs (decoded keyframes
through a frozen trunk, low-level statistics): each video's arrays are stored once under

    <cache>/<kind>/<sha256(settings)[:16]>/<sha256(path, size, mtime)>.npz

so a rerun, a resumed run or a new ablation over the same videos reads them back. The
settings (the model inputs' sampling and preprocessing, which trunk and *which weights*) are
part of the folder name and written beside the files (``settings.json``), so arrays made
under other settings are never read. A write is atomic: an interrupted run keeps every
finished video and never leaves a half-written file. Files are ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from memo.fsio import atomic_path, atomic_write_json


def weights_identity(weights: str | Path | None) -> str | None:
    """What identifies a weight file in a cache key: its resolved path, size and mtime."""
    if weights is None:
        return None
    path = Path(weights)
    try:
        stat = path.stat()
    except OSError:
        return str(path)
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def file_key(path: str | Path) -> str:
    """A video's key: its resolved path, size and modification time (a changed file is recomputed)."""
    p = Path(path)
    stat = p.stat()
    text = f"{p.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VectorCache:
    """Arrays per video for one set of ``settings`` (any JSON-serialisable description)."""

    def __init__(self, root: Path, kind: str, settings: dict[str, Any]) -> None:
        text = json.dumps(settings, sort_keys=True, default=str)
        self.folder = Path(root) / kind / hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        self.settings = settings
        self.hits = 0
        self.stored = 0

    def _file(self, path: str | Path) -> Path:
        return self.folder / f"{file_key(path)}.npz"

    def load(self, path: str | Path) -> dict[str, np.ndarray] | None:
        """The cached arrays of ``path``, or None (absent, unreadable or from an older file)."""
        target = self._file(path)
        if not target.is_file():
            return None
        try:
            with np.load(target, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError):
            return None
        self.hits += 1
        return arrays

    def store(self, path: str | Path, arrays: dict[str, np.ndarray]) -> None:
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.folder / "settings.json", self.settings)
        with atomic_path(self._file(path), suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        self.stored += 1
