"""``export.json``: one record per exported artifact of a bundle (how it was made, how it validated)."""

from __future__ import annotations

import json
from typing import Any

from memo.fsio import atomic_write_json
from memo.models.bundle import Bundle

EXPORT_RECORD = "export.json"


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
