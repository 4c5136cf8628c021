"""Pure logic around TensorRT engines: metadata, rebuild decisions, precision read-back.

Nothing here imports TensorRT, so all of it is unit-tested on machines without a GPU.
An engine is tied to one GPU architecture and one TensorRT version; its metadata file
(``<engine>.json``) says what it was built for and from, and :func:`rebuild_reason`
compares that with the machine and the request.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EngineTarget:
    """What an engine must match to be reused."""

    tensorrt: str
    gpu: str
    compute_capability: str
    precision: str  # requested: fp32 | fp16
    batch: dict[str, int]  # the optimisation profile over dim 0: min / opt / max
    onnx_sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def tensorrt_major(version: str) -> int:
    match = re.match(r"(\d+)", version)
    if not match:
        raise ValueError(f"not a TensorRT version: {version!r}")
    return int(match.group(1))


def uses_strong_typing(version: str) -> bool:
    """TensorRT 11 only builds strongly typed networks (no FP16 builder flag)."""
    return tensorrt_major(version) >= 11


def read_meta(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def rebuild_reason(meta: dict[str, Any] | None, target: EngineTarget, engine_exists: bool) -> str | None:
    """Why the engine must be (re)built for ``target``; ``None`` when the existing one fits."""
    if not engine_exists:
        return "no engine yet"
    if meta is None:
        return "the engine has no readable metadata"
    built = meta.get("target", {})
    checks = (
        ("tensorrt", "built with TensorRT {old}, this is TensorRT {new}"),
        ("compute_capability", "built for compute capability {old}, this GPU is {new}"),
        ("gpu", "built on {old}, this GPU is {new}"),
        ("precision", "built as {old}, {new} was asked for"),
        ("batch", "built for batch profile {old}, {new} was asked for"),
        ("onnx_sha256", "model.onnx changed since the engine was built ({old:.12} -> {new:.12})"),
    )
    wanted = target.to_json()
    for key, message in checks:
        old, new = built.get(key), wanted[key]
        if old != new:
            if key == "batch":
                old, new = _profile_text(old), _profile_text(new)
            return message.format(old=old if old is not None else "?", new=new)
    return None


def _profile_text(profile: Any) -> str:
    if isinstance(profile, dict) and {"min", "opt", "max"} <= set(profile):
        return f"{profile['min']}:{profile['opt']}:{profile['max']}"
    return str(profile)


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
