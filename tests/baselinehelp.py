"""Tiny configurations of the VideoMem baselines and the CNN+Transformer, and bundles of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from memo.models.bundle import Bundle, save_bundle
from memo.models.registry import create_model, get_entry

#: name -> spec keyword arguments of a configuration small enough for CPU tests.
TINY: dict[str, dict[str, Any]] = {
    "resnet3d": {
        "variant": "r3d_18",
        "num_frames": 4,
        "fps": 8.0,
        "size": 32,
        "width": 8,
        "layers": (1, 1, 1, 1),
    },
    "resnet3d-r2plus1d": {
        "variant": "r2plus1d_18",
        "num_frames": 4,
        "fps": 8.0,
        "size": 32,
        "width": 8,
        "layers": (1, 1, 1, 1),
    },
    "semantic-embedding": {
        "trunk": "resnet18",
        "width": 8,
        "layers": (1, 1, 1),
        "num_frames": 3,
        "size": 64,
        "embed_dim": 32,
        "hidden": 16,
    },
    "cnn-transformer": {
        "trunk": "resnet18",
        "width": 8,
        "layers": (1, 1, 1),
        "num_frames": 3,
        "size": 64,
        "dim": 32,
        "heads": 4,
        "ff": 64,
        "hidden": 16,
        "spatial_pos": True,  # the default (False) is exported by benchmarks/baseline_default_export.py
    },
}


def architecture(config: str) -> str:
    return "resnet3d" if config.startswith("resnet3d") else config


def tiny_model(config: str, seed: int = 0) -> tuple[nn.Module, Any]:
    """The module (random weights, fixed seed) and spec of a tiny configuration."""
    spec = get_entry(architecture(config)).default_spec(**TINY[config])
    torch.manual_seed(seed)
    return create_model(spec.architecture, **spec.arch_args), spec


def tiny_bundle(config: str, target: Path, spread: float = 20.0, seed: int = 0) -> Bundle:
    """A bundle whose last linear layer is scaled so scores spread over (0, 1)."""
    module, spec = tiny_model(config, seed)
    last = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(spread)
    return save_bundle(target, spec, module.state_dict())


def tiny_inputs(spec: Any, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    from memo.export.shapes import input_shapes

    generator = torch.Generator().manual_seed(seed)
    return {
        name: torch.rand(batch, *shape, generator=generator) for name, shape in input_shapes(spec).items()
    }


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models run far faster on one thread on a shared CPU (no OpenMP spinning)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
