"""Pure logic of the TensorRT build: typing by version, precision read-back from the inspector.

Nothing here imports TensorRT, so all of it is unit-tested on machines without a GPU.
The engine metadata and the rebuild decision, which the runtime needs too, live in
:mod:`memo.runtime.engine_meta`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any


def tensorrt_major(version: str) -> int:
    match = re.match(r"(\d+)", version)
    if not match:
        raise ValueError(f"not a TensorRT version: {version!r}")
    return int(match.group(1))


def uses_strong_typing(version: str) -> bool:
    """TensorRT 11 only builds strongly typed networks (no FP16 builder flag)."""
    return tensorrt_major(version) >= 11


_DTYPE_WORDS = {
    "fp32": ("float", "fp32"),
    "fp16": ("half", "fp16"),
    "bf16": ("bf16", "bfloat16"),
    "int8": ("int8",),
    "fp8": ("fp8",),
}


def _dtype_of(tensor: dict[str, Any]) -> str | None:
    """One tensor entry of the inspector JSON -> fp32/fp16/...; TRT 10 and 11 spell it differently."""
    text = str(tensor.get("DataType") or tensor.get("Format/Datatype") or "").lower()
    for name, words in _DTYPE_WORDS.items():
        if any(re.search(rf"\b{w}\b", text) for w in words):
            return name
    return None


def layer_precisions(inspector_json: str) -> Counter[str]:
    """Counts of layer output data types in an engine inspector JSON dump.

    Needs an engine built with ``ProfilingVerbosity.DETAILED``; with names only, layers
    are plain strings and nothing can be counted (an empty counter).
    """
    data = json.loads(inspector_json)
    counts: Counter[str] = Counter()
    for layer in data.get("Layers", []):
        if not isinstance(layer, dict):
            continue
        kinds = {_dtype_of(t) for t in layer.get("Outputs", []) if isinstance(t, dict)}
        kinds.discard(None)
        for kind in kinds:
            counts[kind] += 1
    return counts


def summarise_precision(counts: Counter[str]) -> str:
    """``fp32``, ``fp16``, ``mixed (fp16 120, fp32 4)`` or ``unknown``: what the engine really runs."""
    if not counts:
        return "unknown"
    if len(counts) == 1:
        return next(iter(counts))
    parts = ", ".join(f"{k} {v}" for k, v in counts.most_common())
    return f"mixed ({parts})"


def precision_satisfied(requested: str, counts: Counter[str]) -> bool:
    """fp16 asked for: at least one fp16 layer was built; fp32: no reduced-precision layer."""
    if requested == "fp16":
        return counts.get("fp16", 0) > 0
    return not (set(counts) - {"fp32"}) if counts else True
