"""Helpers shared by the export / bench tests (bundles built here, never mocks)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

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


def feature_folder(folder: Path, names: Sequence[str], dim: int, seed: int = 0) -> Path:
    """A features folder: one ``<name>.npy`` vector of ``dim`` floats per name."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        np.save(folder / f"{name}.npy", rng.normal(size=dim).astype(np.float32))
    return folder


def features_fusion(target: Path, dim: int, seed: int = 0) -> Bundle:
    """fusion-mlp over one features input ``feats``; a random head, so scores spread (a fresh one is constant)."""
    import torch

    from memo.models.fusion import fusion_spec
    from memo.models.registry import create_model

    torch.manual_seed(seed)
    spec = fusion_spec(streams={"feats": {"stream": "features", "dim": dim}}, outputs=("score",), hidden=16)
    module = create_model("fusion-mlp", **spec.arch_args)
    with torch.no_grad():
        for member in module.members:
            torch.nn.init.normal_(member.head.weight)
    return save_bundle(target, spec, module.state_dict())
