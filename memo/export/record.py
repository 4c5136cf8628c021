"""``export.json``: one record per exported artifact of a bundle (how it was made, how it validated)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from memo.fsio import atomic_write_json
from memo.models.bundle import Bundle

EXPORT_RECORD = "export.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def artifact_sha256(path: Path) -> str:
    """sha256 of an artifact together with its external-data file (``<name>.data``) if it has one."""
    digest = hashlib.sha256()
    for part in (path, path.with_name(f"{path.name}.data")):
        if part.is_file():
            digest.update(sha256_file(part).encode())
    return digest.hexdigest()


def read_records(bundle: Bundle) -> dict[str, Any]:
    path = bundle.artifact(EXPORT_RECORD)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data.get("artifacts", {}) if isinstance(data, dict) else {}


def write_record(bundle: Bundle, artifact: str, record: dict[str, Any]) -> None:
    records = read_records(bundle)
    records[artifact] = record
    if not artifact.startswith("failed:"):
        records.pop(f"failed:{artifact}", None)  # a validated artifact supersedes an earlier failure
    atomic_write_json(bundle.artifact(EXPORT_RECORD), {"bundle": bundle.label, "artifacts": records})
