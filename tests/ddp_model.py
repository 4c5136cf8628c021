"""A test's own clip model for the distributed-training tests (tests/test_train_ddp.py).

No BatchNorm and no dropout, on purpose: with them a run on two processes differs from one by
more than floating-point order (per-rank batch statistics, per-rank dropout masks), see
memo/trainer/distributed.py. Importing this module from a torchrun worker script registers the
model there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from memo.models.config import ModelConfig, arg
from memo.models.registry import MODELS, register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess

NAME = "test-ddp-clip"


@dataclass(frozen=True)
class TinyClipConfig(ModelConfig):
    architecture = NAME

    num_frames: int = arg(8, "clip frames", input=True)
    size: int = arg(16, "crop size", input=True)


def tiny_clip_spec(**args: Any) -> ModelSpec:
    cfg = TinyClipConfig.from_args(args)
    frames, size = cfg.num_frames, cfg.size
    preprocess = Preprocess(
        resize=(size + 2,), crop=(size, size), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)
    )
    return ModelSpec(
        name=NAME,
        architecture=NAME,
        arch_args=cfg.arch_args(),
        inputs=(InputSpec(name="clip", stream="clip", num_frames=frames, fps=16, preprocess=preprocess),),
        outputs=(OutputSpec("score", "memorability, in [0, 1]"),),
        unit="video",
        description="a test's own model: one 3D convolution, pooled, a linear head",
    )


class TinyClip(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 6, 3, stride=(1, 2, 2), padding=1)
        self.head = nn.Linear(6, 1)

    def forward(self, clip: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = torch.relu(self.conv(clip)).mean(dim=(2, 3, 4))  # clip: (B, 3, T, H, W)
        return {"score": torch.sigmoid(self.head(pooled)).squeeze(1)}


def register() -> str:
    if NAME not in MODELS:
        register_model(
            NAME, spec=tiny_clip_spec, config=TinyClipConfig, paper="none: a test's model", recipe="video"
        )(TinyClip)
    return NAME
