"""The data a report page is drawn from: one JSON-ready dict, built from the rows alone.

Everything the page shows is computed here (counts, statistics, histograms, the gallery's
ranking, failures grouped by reason, the table's columns), so it can be tested without a
browser and the page's script only draws and sorts. Thumbnails are added later
(:mod:`memo.report.thumbs`); this module does no I/O.

The table is column-oriented (one array per column) and text columns with few distinct
values (status, decoder, backend, model) are stored as codes into a list of values, which
keeps a 50,000-row page small and quick to parse.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from memo.report.load import Results
from memo.score.summary import failure_reason

FAILURE_PATHS = 200  # paths listed per failure reason (the table filters all of them)
CODED_MAX = 256  # a text column with at most this many distinct values is stored as codes


def page_data(results: Results, top: int = 12, bins: int = 20) -> dict[str, Any]:
    """Everything but thumbnails and links: see the module docstring."""
    rows = results.rows
    outputs = results.outputs
    ok = [i for i, row in enumerate(rows) if row.get("status") == "ok"]
    return {
        "source": str(results.source),
        "parts": results.parts,
        "settings": settings_table(results),
        "counts": counts(results),
        "outputs": outputs,
        "stats": {o: stats([rows[i][o] for i in ok]) for o in outputs},
        "histograms": {o: histogram([rows[i][o] for i in ok], bins) for o in outputs},
        "gallery": {o: ranked(rows, ok, o, top) for o in outputs},
        "top": top,
        "contributions": contribution_groups(outputs, results.contributions),
        "failures": failure_groups(rows),
        "table": table(results),
    }


def counts(results: Results) -> dict[str, int]:
    rows = results.rows
    ok = sum(row.get("status") == "ok" for row in rows)
    return {
        "total": len(rows),
        "ok": ok,
        "failed": len(rows) - ok,
        "warnings": sum(bool(row.get("warning")) and row.get("status") == "ok" for row in rows),
    }


def stats(values: Sequence[float | None]) -> dict[str, float] | None:
    clean = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if clean.size == 0:
        return None
    return {
        "mean": float(clean.mean()),
        "median": float(np.median(clean)),
        "std": float(clean.std()),
        "min": float(clean.min()),
        "max": float(clean.max()),
    }


def histogram(values: Sequence[float | None], bins: int) -> dict[str, list[float]] | None:
    """Counts over [0, 1] (scores' range) or, for values outside it, over their own range."""
    clean = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if clean.size == 0:
        return None
    low, high = (
        (0.0, 1.0) if clean.min() >= 0 and clean.max() <= 1 else (float(clean.min()), float(clean.max()))
    )
    if high <= low:
        high = low + 1e-9
    found, edges = np.histogram(clean, bins=bins, range=(low, high))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in found]}


def ranked(rows: Sequence[dict[str, Any]], ok: Sequence[int], output: str, top: int) -> dict[str, list[int]]:
    """Row indices of the ``top`` highest and lowest ``output`` (no row in both on small files)."""
    scored = [i for i in ok if rows[i].get(output) is not None]
    order = sorted(scored, key=lambda i: (-rows[i][output], rows[i]["path"]))
    best = order[:top]
    worst = order[max(top, len(order) - top) :][::-1]
    return {"top": best, "bottom": worst}


def contribution_groups(outputs: Sequence[str], columns: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """``{output: [{"column", "module"}]}`` from ``contrib_<module>`` / ``contrib_<output>_<module>``."""
    groups: dict[str, list[dict[str, str]]] = {}
    for column in columns:
        name = column.removeprefix("contrib_")
        owner = (
            outputs[0] if len(outputs) == 1 else next((o for o in outputs if name.startswith(o + "_")), None)
        )
        if owner is None:
            continue
        module = name if len(outputs) == 1 else name.removeprefix(owner + "_")
        groups.setdefault(owner, []).append({"column": column, "module": module})
    return groups


def failure_groups(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"reason", "count", "paths"}]``, the commonest reason first (``memo score``'s grouping)."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        if row.get("status") != "ok":
            path = row["path"]
            groups.setdefault(
                failure_reason(path, row.get("error") or "failed (no reason recorded)"), []
            ).append(path)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [{"reason": r, "count": len(p), "paths": p[:FAILURE_PATHS]} for r, p in ordered]


def settings_table(results: Results) -> list[list[str]]:
    """``[label, value]`` pairs: the sidecar's record, then what the rows say (decoders, backends)."""
    rows = results.rows
    record = results.sidecar or {}
    settings = record.get("settings", {})
    pairs: list[list[str]] = []
    model = settings.get("model") or _mixed(rows, "model")
    version = settings.get("model_version") or _mixed(rows, "model_version")
    pairs.append(["model", f"{model} (version {version})" if version else str(model)])
    for key in ("architecture", "aggregate", "precision"):
        if settings.get(key) is not None:
            pairs.append([key, str(settings[key])])
    pairs += _input_settings(settings)
    backends = record.get("backends") or []
    pairs.append(["backend", _counted(rows, "backend") or ", ".join(backends) or "-"])
    pairs.append(["decoder", _counted(rows, "decoder") or "-"])
    if settings.get("weights_sha256"):
        pairs.append(["weights sha256", str(settings["weights_sha256"])[:16] + "…"])
    pairs.append(["memo version", str(settings.get("memo_version") or "(not recorded)")])
    if not record:
        pairs.append(["settings record", "not found (NAME.memo.json beside the results)"])
    return pairs


def _input_settings(settings: dict[str, Any]) -> list[list[str]]:
    pairs = []
    names = dict.fromkeys(k.split(":")[0].removeprefix("input ") for k in settings if k.startswith("input "))
    for name in names:
        stream = settings.get(f"input {name}: stream")
        text = str(stream)
        if settings.get(f"input {name}: frames") is not None:
            text += f", {settings[f'input {name}: frames']} frames"
        if settings.get(f"input {name}: fps"):
            text += f" at {settings[f'input {name}: fps']} fps"
        crop = (settings.get(f"input {name}: preprocessing") or {}).get("crop")
        if crop:
            text += f", {crop[0]}×{crop[1]} crop"
        if settings.get(f"input {name}: encoder"):
            text += f", encoder {settings[f'input {name}: encoder']}"
        pairs.append([f"input {name}", text])
    return pairs


def _mixed(rows: Sequence[dict[str, Any]], column: str) -> str:
    return _counted(rows, column) or "(unknown)"


def _counted(rows: Sequence[dict[str, Any]], column: str) -> str:
    """``pyav`` or ``pyav (98), dali (2)``: a column's values over the rows that have one."""
    found = Counter(str(row.get(column)) for row in rows if row.get(column))
    if len(found) <= 1:
        return next(iter(found), "")
    return ", ".join(f"{value} ({n})" for value, n in found.most_common())


def table_columns(results: Results) -> list[str]:
    """What the table shows, in order; model columns only when the file mixes models."""
    columns = ["path", *results.outputs, "status", "note", "frames", "seconds", "decoder", "backend"]
    columns += [c for c in ("model", "model_version") if len({r.get(c) for r in results.rows}) > 1]
    return [c for c in columns if c in ("note", *results.columns)] + results.contributions


def table(results: Results) -> dict[str, Any]:
    """``{"columns": [{"name", "kind"}], "data": {name: values or {"values", "codes"}}, "rows": n}``."""
    rows = results.rows
    columns = table_columns(results)
    data: dict[str, Any] = {}
    kinds = []
    for column in columns:
        if column == "note":
            values: list[Any] = [row.get("error") or row.get("warning") or "" for row in rows]
        elif column == "seconds":
            values = [None if row.get(column) is None else round(row[column], 3) for row in rows]
        else:
            values = [_finite(row.get(column)) for row in rows]
        numeric = column not in ("path", "note", "status", "decoder", "backend", "model", "model_version")
        kinds.append({"name": column, "kind": "number" if numeric else "text"})
        data[column] = values if numeric or column in ("path", "note") else _coded(values)
    return {"columns": kinds, "data": data, "rows": len(rows)}


def _coded(values: list[Any]) -> Any:
    distinct = list(dict.fromkeys(values))
    if len(distinct) > CODED_MAX:
        return values
    index = {v: i for i, v in enumerate(distinct)}
    return {"values": distinct, "codes": [index[v] for v in values]}


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value
