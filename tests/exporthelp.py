"""Helpers shared by the export / bench tests (bundles built here, never mocks)."""

from __future__ import annotations

import shutil
from pathlib import Path

from memo.models.bundle import Bundle, read_bundle, save_bundle


def copy_bundle(bundle: Bundle, target: Path) -> Bundle:
    """A private copy of a bundle's config + weights (no exported artifacts)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "weights.safetensors"):
        shutil.copy2(bundle.path / name, target / name)
    return read_bundle(target)


def spread_framecnn(target: Path, seed: int = 0) -> Bundle:
    """framecnn with a scaled head, so scores spread over (0, 1) and rank correlations mean something."""
    import torch

    from memo.models.registry import create_model
    from memo.models.tiny import framecnn_spec

    torch.manual_seed(seed)
    module = create_model("framecnn", width=8)
    with torch.no_grad():
        module.head.weight.mul_(300.0)
        module.head.bias.zero_()
    spec = framecnn_spec(size=32).with_(arch_args={"width": 8})
    return save_bundle(target, spec, module.state_dict())
