"""The registry entry of M3-S (:mod:`memo.models.m3s`): its builder and what the rest of memo
needs to know of it — trained by the ``m3s`` recipe, profiled with fitted buffers of a
stated size, explained per tier (``--explain`` columns)."""

from __future__ import annotations

from typing import Any

from torch import nn

from memo.models.m3s import M3S, m3s_spec
from memo.models.m3s_config import TIERS, M3SArchArgs, M3SConfig
from memo.models.registry import register_model
from memo.models.spec import ModelSpec

# The fitted sizes m3s is profiled with: a 1000-video training bank, 8 DBSCAN clusters per
# similarity source. The bank only adds a (1, 10) x (10, N) distance matmul: 20 kFLOPs.
PROFILE_FIT = {"clusters": 8, "bank": 1000}


def profile_args(args: dict[str, Any]) -> dict[str, Any]:
    """An unfitted m3s's arch args with buffers sized by :data:`PROFILE_FIT` (for ``memo models``)."""
    if args.get("fitted") is not None:
        return args
    over = args.get("similarity", {}).get("over", [])
    fitted = {
        "clusters": {src: PROFILE_FIT["clusters"] for src in over},
        "bank": {src: PROFILE_FIT["bank"] for src in over},
    }
    return {**args, "fitted": fitted}


def contribution_columns(spec: ModelSpec) -> list[str]:
    """The ``--explain`` columns: one per tier of the model (per output when it has several)."""
    tiers = spec.arch_args.get("modules")
    if not tiers:
        return []
    order = [t for t in TIERS if t in tiers]
    outputs = list(spec.output_names)
    if len(outputs) == 1:
        return [f"contrib_{t}" for t in order]
    return [f"contrib_{o}_{t}" for o in outputs for t in order]


NOTE = (
    "fitted on a training set before use; profiled with a "
    f"{PROFILE_FIT['bank']}-video bank and {PROFILE_FIT['clusters']} clusters"
)


@register_model(
    "m3s",
    spec=m3s_spec,
    config=M3SConfig,
    paper="Dumont, Hevia & Fosco, CVPR 2023 (M3-S)",
    recipe="m3s",
    note=NOTE,
    profile_args=profile_args,
    contribution_columns=contribution_columns,
)
def build_m3s(**arch_args: Any) -> nn.Module:
    """The module of a spec's derived ``arch_args`` (:class:`memo.models.m3s.M3SArchArgs`)."""
    return M3S(M3SArchArgs.from_args(arch_args, "arch_args"))
