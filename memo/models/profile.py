"""Size and cost of a model: parameters, and GFLOPs per video on the model's own input.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and
convolutions, 2 FLOPs per multiply-add; elementwise ops are not counted) on one video's
input as the spec defines it: ``num_frames`` rows of ``(3, H, W)`` for a ``frame`` model,
one row of every input for a ``video`` model. Inputs computed outside the model (caption
embeddings, precomputed features, low-level measurements) are not counted. The count runs on the ``meta`` device (no
arithmetic, no memory for activations), on a copy of the module.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from memo.models.spec import ModelSpec


@dataclass(frozen=True)
class Profile:
    params: int
    trainable: int
    gflops_per_video: float


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def video_inputs(
    spec: ModelSpec, device: str | torch.device = "cpu", videos: int = 1
) -> dict[str, torch.Tensor]:
    """Zero tensors shaped as ``videos`` videos' worth of the spec's inputs."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in spec.inputs:
        if item.stream in ("text", "features"):
            shapes[item.name] = (videos, int(item.dim or 0))
            continue
        if item.stream == "lowlevel":  # (B, T, D) measurements, see memo.data.lowlevel
            shapes[item.name] = (videos, item.num_frames, int(item.dim or 0))
            continue
        assert item.preprocess is not None
        height, width = item.preprocess.crop
        if item.stream == "clip":
            shapes[item.name] = (videos, 3, item.num_frames, height, width)
        elif spec.unit == "frame":
            shapes[item.name] = (videos * item.num_frames, 3, height, width)
        else:
            shapes[item.name] = (videos, item.num_frames, 3, height, width)
    return {name: torch.zeros(shape, device=device) for name, shape in shapes.items()}


def gflops_per_video(spec: ModelSpec, module: nn.Module) -> float:
    """GFLOPs of one forward pass over one video's input (eval mode, on a meta-device copy)."""
    meta = copy.deepcopy(module).to("meta").eval()
    inputs = video_inputs(spec, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta(**inputs)
    return counter.get_total_flops() / 1e9


def profile(spec: ModelSpec, module: nn.Module) -> Profile:
    return Profile(
        count_params(module), count_params(module, trainable_only=True), gflops_per_video(spec, module)
    )


def train_step_rate(
    spec: ModelSpec, module: nn.Module, videos: int = 4, steps: int = 5, warmup: int = 3
) -> float:
    """Videos per second of plain training steps (forward, MSE on every output, backward, Adam) on
    random inputs: the model's own cost, without decoding or data loading."""
    import time

    inputs = {k: torch.randn_like(v) for k, v in video_inputs(spec, videos=videos).items()}
    params = [p for p in module.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=1e-4)
    module.train()
    started = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        optimiser.zero_grad()
        outputs = module(**inputs)
        loss = sum(((value - 0.5) ** 2).mean() for value in outputs.values())
        loss.backward()  # type: ignore[union-attr]
        optimiser.step()
    return videos * steps / (time.perf_counter() - started)
