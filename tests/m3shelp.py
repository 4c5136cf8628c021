"""Helpers shared by the M3-S tests: real decoded inputs and a plain training loop (no mocks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from memo.data.inputs import prepare_video
from memo.models.m3s import M3S
from memo.models.spec import ModelSpec


def video_inputs(spec: ModelSpec, paths: Sequence[str]) -> dict[str, torch.Tensor]:
    """Each path through memo's data layer (decode, sample, low-level features), stacked."""
    arrays = [prepare_video(str(p), spec).arrays for p in paths]
    return {k: torch.from_numpy(np.concatenate([a[k] for a in arrays])) for k in arrays[0]}


def train_head(model: M3S, raw: dict[str, torch.Tensor], targets: torch.Tensor, epochs: int = 300,
               lr: float = 1e-3, seed: int = 0) -> float:  # fmt: skip
    """Full-batch Adam on the head (frozen trunks, fitted transforms fixed); the final MSE.

    The head's input blocks are computed once in training mode (own cluster label,
    leave-one-out kNN), as a trainer does with cached features.
    """
    torch.manual_seed(seed)
    assert model.head is not None
    for layer in model.head:
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    optimiser = torch.optim.Adam(model.head.parameters(), lr=lr, weight_decay=1e-5)
    model.train()
    with torch.no_grad():
        blocks = model.head_blocks(raw)
    loss = torch.tensor(0.0)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = ((model.head_from_blocks(blocks)[model.outputs[0]] - targets) ** 2).mean()
        loss.backward()
        optimiser.step()
    model.eval()
    return float(loss.detach())
