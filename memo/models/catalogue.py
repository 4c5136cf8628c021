"""The catalogue of architectures behind ``memo models`` and the table in docs/models.md.

One row per registered architecture, of its **default configuration**: the paper, the
inputs it needs, parameters, GFLOPs per video (counted by
:func:`memo.models.profile.gflops_per_video` on the model's own input, on the meta device:
nothing is computed, so the whole catalogue takes a few seconds), which parts are
pretrained and from what (spec metadata ``pretrained``), and the offline pretrained bundle
of that architecture when one exists (:data:`memo.models.named.NAMED`).

A model whose default configuration is incomplete (``m3s``: fitted on a training set) names
the arch args to profile it with in its registry entry (``profile_args``), and its row says so
(``note``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from memo.models.config import Argument
from memo.models.profile import count_params, gflops_per_video
from memo.models.registry import create_model, get_entry, list_models
from memo.models.spec import InputSpec, ModelSpec

log = logging.getLogger(__name__)

SLOW_PROFILE_S = 5.0  # a row slower than this to profile says so in its note


@dataclass(frozen=True)
class CatalogueRow:
    name: str
    paper: str
    inputs: str  # e.g. "keyframes×7 224² + clip×16@8fps 112²"
    unit: str  # "frame": each keyframe scored alone, scores averaged; "video": one row per video
    params: int | None
    trainable: int | None
    gflops_per_video: float | None
    pretrained: str
    offline_bundle: str  # a named pretrained bundle of this architecture, or ""
    note: str
    profile_seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def describe_input(item: InputSpec) -> str:
    """One input as ``keyframes×7 224²``, ``clip×16@8fps 112²``, ``text 384-d``, ..."""
    size = ""
    if item.preprocess is not None:
        height, width = item.preprocess.crop
        size = f" {height}²" if height == width else f" {height}×{width}"
    if item.stream == "keyframes":
        return f"keyframes×{item.num_frames}{size}"
    if item.stream == "clip":
        return f"clip×{item.num_frames}@{item.fps:g}fps{size}"
    if item.stream == "lowlevel":
        return f"lowlevel×{item.num_frames} ({item.dim}-d per frame, from{size} frames)"
    encoder = f", {item.encoder}" if item.encoder else ""
    return f"{item.stream} {item.dim}-d{encoder}"


def describe_inputs(spec: ModelSpec) -> str:
    return " + ".join(describe_input(item) for item in spec.inputs)


def describe_pretrained(spec: ModelSpec) -> str:
    """Spec metadata ``pretrained`` (a sentence, or ``{part: source}``) as one line."""
    value = spec.metadata.get("pretrained")
    if value is None:
        return "not stated"
    if isinstance(value, dict):
        return "; ".join(f"{part}: {source}" for part, source in value.items())
    return str(value)


def offline_bundles(architecture: str) -> list[str]:
    """Named bundles memo builds offline (no download) whose architecture is ``architecture``."""
    from memo.models.named import NAMED_SPECS

    return [name for name, spec in NAMED_SPECS.items() if spec().architecture == architecture]


def _build(name: str, spec: ModelSpec) -> nn.Module:
    """The module of ``spec``, with the arch args its registry entry profiles it with."""
    profile = get_entry(name).profile_args
    args = profile(dict(spec.arch_args)) if profile else dict(spec.arch_args)
    with torch.device("meta"):  # no memory, no initialisation arithmetic
        return create_model(spec.architecture, **args)


def _notes(name: str, spec: ModelSpec) -> list[str]:
    """The row's notes: how a frame model is scored (unless its entry has a note), what the GFLOPs
    leave out, then the entry's own note."""
    note = get_entry(name).note
    notes = []
    if spec.unit == "frame" and not note:
        notes.append("frame model: scored per keyframe, frame scores averaged")
    outside = sorted({i.stream for i in spec.inputs if i.stream in ("text", "features", "lowlevel")})
    if outside:
        notes.append(f"GFLOPs exclude computing the {'/'.join(outside)} input outside the model")
    if note:
        notes.append(note)
    return notes


def catalogue_row(name: str) -> CatalogueRow:
    """The row of one architecture; a model that cannot be profiled gets empty numbers and a note."""
    entry = get_entry(name)
    spec = entry.default_spec()
    notes = _notes(name, spec)
    started = time.perf_counter()
    params = trainable = None
    gflops = None
    try:
        module = _build(name, spec)
        params, trainable = count_params(module), count_params(module, trainable_only=True)
        gflops = gflops_per_video(spec, module)
    except Exception as exc:  # one model's failure is a row, not a crash of the listing
        log.warning("%s: could not profile the default configuration: %s", name, exc)
        notes.append(f"not profiled: {exc}")
    seconds = time.perf_counter() - started
    if seconds > SLOW_PROFILE_S:
        notes.append(f"slow to profile ({seconds:.0f} s)")
    return CatalogueRow(
        name=name,
        paper=entry.paper,
        inputs=describe_inputs(spec),
        unit=spec.unit,
        params=params,
        trainable=trainable,
        gflops_per_video=gflops,
        pretrained=describe_pretrained(spec),
        offline_bundle=", ".join(offline_bundles(spec.architecture)),
        note="; ".join(notes),
        profile_seconds=round(seconds, 3),
    )


def arguments(name: str) -> list[Argument]:
    """The arguments of an architecture, read from its config (``memo models NAME``)."""
    return get_entry(name).config.arguments()


def describe_default(value: Any) -> str:
    """A default as ``memo models NAME`` prints it (JSON, as ``--model-arg`` takes it)."""
    from memo.models.config import to_json

    return json.dumps(to_json(value))


def catalogue() -> list[CatalogueRow]:
    """One row per registered architecture, sorted by name."""
    return [catalogue_row(name) for name in list_models()]


def markdown_table(rows: list[CatalogueRow]) -> str:
    """The rows as the Markdown table of docs/models.md."""
    head = "| name | paper | inputs (default) | params | GFLOPs / video | pretrained parts | offline bundle | note |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"`{r.name}`", r.paper, r.inputs, format_params(r.params), format_gflops(r.gflops_per_video),
                 r.pretrained, f"`{r.offline_bundle}`" if r.offline_bundle else "none", r.note]  # fmt: skip
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def format_params(params: int | None) -> str:
    return "-" if params is None else f"{params / 1e6:.2f} M"


def format_gflops(gflops: float | None) -> str:
    if gflops is None:
        return "-"
    return f"{gflops:.1f}" if gflops >= 0.1 else f"{gflops:.4f}"
