"""``framecnn``: a small frame-level memorability CNN.

Not from a paper: a deliberately small convolutional regressor (four conv blocks, global
average pooling, a sigmoid head) for training from scratch on a laptop and for fast
tests of the whole pipeline (decode -> runtime -> export) without ResNet-152's cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from memo.models.config import ModelConfig, arg
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess
from memo.models.trunks import IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class FrameCNNConfig(ModelConfig):
    architecture = "framecnn"

    width: int = arg(16, "channels of the first conv block (doubled at each of the 4 blocks)")
    size: int = arg(64, "frames resized (shorter side) and centre-cropped to size x size", input=True)
    num_frames: int = arg(7, "keyframes per video, each scored alone", input=True)


def framecnn_spec(**args: Any) -> ModelSpec:
    cfg = FrameCNNConfig.from_args(args)
    return ModelSpec(
        name="framecnn",
        architecture="framecnn",
        version="1",
        arch_args=cfg.arch_args(),
        inputs=(
            InputSpec(
                name="frames",
                stream="keyframes",
                num_frames=cfg.num_frames,
                preprocess=Preprocess(
                    resize=(cfg.size,), crop=(cfg.size, cfg.size), mean=IMAGENET_MEAN, std=IMAGENET_STD
                ),
            ),
        ),
        outputs=(OutputSpec("score", "memorability of the frame, in [0, 1]"),),
        unit="frame",
        description="small frame CNN (tests, quick experiments)",
        metadata={"pretrained": "none (trained from scratch)"},
    )


class FrameCNN(nn.Module):
    def __init__(self, cfg: FrameCNNConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i in range(4):
            out = cfg.width * 2**i
            layers += [
                nn.Conv2d(channels, out, 3, stride=2, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            channels = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, 1)

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"score": torch.sigmoid(self.head(self.body(frames))).squeeze(1)}

    def attention(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Class activation map (Zhou et al., CVPR 2016): the head's weights applied at each
        position of the last feature map, i.e. each position's contribution to the logit."""
        fmap = self.body[:-2](frames)  # (rows, C, h, w): the body without its pooling
        return {"cam": torch.einsum("c,bchw->bhw", self.head.weight[0], fmap)}


@register_model(
    "framecnn", spec=framecnn_spec, config=FrameCNNConfig, paper="memo's own small baseline", recipe="video"
)
def build_framecnn(**arch_args: Any) -> nn.Module:
    return FrameCNN(FrameCNNConfig.from_arch_args(arch_args))
