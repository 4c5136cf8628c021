"""The settings that change a score, kept beside the result file so a resume can be trusted.

``scores.csv`` gets a sidecar ``scores.csv.memo.json`` (written atomically) recording what
makes two scores comparable: the model's name, version and weights hash, how frames are
sampled and preprocessed, the other inputs' encoders, the precision and memo's version.
A resume whose settings differ is refused, naming the first setting that differs
(``--frames 2`` appended to a 7-frame file would mix incomparable scores silently).

The backend is not one of them: ONNX Runtime and PyTorch run the same weights to within
the export tolerance, so a resume may switch backend; the sidecar lists every backend used
and each row says which one scored it (the ``backend`` column).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from memo import __version__
from memo.errors import OutputError
from memo.fsio import atomic_write_json, memo_home
from memo.models.bundle import Bundle
from memo.models.spec import FROM_VIDEO
from memo.score.checks import sidecar_path

FORMAT = "memo-scores/1"


_HASHES: dict[str, str] = {}


def weights_sha256(bundle: Bundle) -> str | None:
    """SHA-256 of the bundle's weights, remembered by (real path, size, mtime).

    ResMem's weights are 527 MB: hashing them costs seconds on a busy CPU, so the hash is
    kept in ``$MEMO_HOME/cache/weights-sha256.json`` (best effort) and in memory.
    """
    path = bundle.weights_path
    if not path.is_file():
        return None
    stat = path.stat()
    key = f"{os.path.realpath(path)}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_file = memo_home() / "cache" / "weights-sha256.json"
    if key not in _HASHES:
        known = _read_hash_cache(cache_file)
        if key in known:
            _HASHES[key] = known[key]
        else:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            _HASHES[key] = digest.hexdigest()
            with contextlib.suppress(OSError):  # a read-only home only costs the hash next time
                atomic_write_json(cache_file, {**known, key: _HASHES[key]})
    return _HASHES[key]


def _read_hash_cache(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def score_settings(bundle: Bundle, precision: str = "fp32") -> dict[str, Any]:
    """Everything about a run that changes the numbers it writes (flat keys, JSON values)."""
    spec = bundle.spec
    settings: dict[str, Any] = {
        "model": spec.name,
        "model_version": str(spec.version),
        "weights_sha256": weights_sha256(bundle),
        "architecture": spec.architecture,
        "unit": spec.unit,
        "aggregate": spec.aggregate,
        "precision": precision,
        "memo_version": __version__,
    }
    for item in spec.inputs:
        prefix = f"input {item.name}"
        settings[f"{prefix}: stream"] = item.stream
        if item.stream in FROM_VIDEO:
            settings[f"{prefix}: frames"] = item.num_frames
            settings[f"{prefix}: fps"] = item.fps
            settings[f"{prefix}: preprocessing"] = json.loads(json.dumps(asdict(item.preprocess)))  # type: ignore[arg-type]
        else:
            settings[f"{prefix}: dim"] = item.dim
            settings[f"{prefix}: encoder"] = item.encoder
    return settings


def read_sidecar(output: Path) -> dict[str, Any] | None:
    path = sidecar_path(output)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputError(
            f"{path}: unreadable settings record ({exc}); use --overwrite to start again"
        ) from exc
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("settings"), dict)
    ):
        raise OutputError(f"{path}: not a memo settings record ({FORMAT}); use --overwrite to start again")
    return data


def check_resume(output: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """Refuse to resume ``output`` when it was scored with other settings; the old record."""
    record = read_sidecar(output)
    if record is None:
        if output.exists() and output.stat().st_size > 0:
            raise OutputError(
                f"{output}: has no settings record ({sidecar_path(output).name}), so memo cannot tell "
                "whether its scores are comparable; use another output file or --overwrite"
            )
        return None
    old = record["settings"]
    for key in dict.fromkeys([*old, *settings]):
        if old.get(key) != settings.get(key):
            raise OutputError(
                f"{output}: was scored with {key} = {_show(old.get(key))}, this run has "
                f"{_show(settings.get(key))}; resuming would mix incomparable scores "
                "(use the same settings, another output file, or --overwrite)"
            )
    return record


def write_sidecar(
    output: Path,
    settings: dict[str, Any],
    backend: str,
    previous: dict[str, Any] | None,
    run: dict[str, Any] | None = None,
) -> None:
    """The record; ``run`` (what this run chose: backend, threads, batch size and why) is appended
    to the record's ``runs``, which, like ``backends``, is informative and never compared."""
    backends = list((previous or {}).get("backends", []))
    if backend not in backends:
        backends.append(backend)
    # cwd: where relative paths in the results are relative to (memo report links to the videos)
    data: dict[str, Any] = {"format": FORMAT, "settings": settings, "backends": backends, "cwd": os.getcwd()}
    runs = list((previous or {}).get("runs", []))
    if run is not None:
        runs.append(run)
    if runs:
        data["runs"] = runs
    try:
        atomic_write_json(sidecar_path(output), data)
    except OSError as exc:
        raise OutputError(
            f"{sidecar_path(output)}: cannot write the settings record ({exc.strerror or exc})"
        ) from exc


def _show(value: Any) -> str:
    return "(not recorded)" if value is None else json.dumps(value) if not isinstance(value, str) else value
