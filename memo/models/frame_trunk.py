"""Frame trunks for the VideoMem baselines and the CNN+Transformer: 2D ResNets that return maps.

Built from torchvision's own residual blocks (``BasicBlock``, ``Bottleneck``) with
torchvision's module names (``conv1``, ``bn1``, ``layer1`` ... ``layer4``), so at the default
width (64) and depth a torchvision ResNet checkpoint loads unchanged. The width and the
number of blocks per stage are configurable so that tests run tiny trunks (width 8, one
block per stage); fewer than four stages stops the trunk early (stride 16 after three).

The trunk returns the spatial map of its last stage; :meth:`ResNetTrunk.split_last` gives
the input and output of the last residual block, which the semantic model's attention
branch needs (its 1x1 conv runs in parallel to that block).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from memo.models.backbones import IMAGENET_PREPROCESS
from memo.models.spec import Preprocess
from memo.models.trunks import grid_size, init_like_torchvision

#: torchvision ResNet depths: block type and blocks per stage.
RESNETS: dict[str, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}


def frame_preprocess(size: int) -> Preprocess:
    """ImageNet normalisation; resize the shorter side to ``size * 8/7`` then centre-crop ``size``."""
    if size == 224:
        return IMAGENET_PREPROCESS
    return Preprocess(resize=(round(size * 8 / 7),), crop=(size, size), mean=IMAGENET_PREPROCESS.mean,
                      std=IMAGENET_PREPROCESS.std)  # fmt: skip


class ResNetTrunk(nn.Module):
    """A torchvision ResNet without its classifier: ``(N, 3, H, W) -> (N, C, H/s, W/s)``."""

    def __init__(self, arch: str = "resnet50", width: int = 64, layers: Sequence[int] | None = None) -> None:
        super().__init__()
        if arch not in RESNETS:
            raise ValueError(f"unknown frame trunk {arch!r} (one of {', '.join(RESNETS)})")
        block, default_layers = RESNETS[arch]
        layers = tuple(layers or default_layers)
        if not 1 <= len(layers) <= 4 or min(layers) < 1:
            raise ValueError(f"layers must be 1 to 4 positive block counts, got {layers}")
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = width
        for i, blocks in enumerate(layers):
            planes = width * 2**i
            stage, inplanes = _stage(block, inplanes, planes, blocks, stride=1 if i == 0 else 2)
            self.add_module(f"layer{i + 1}", stage)
        self.stages = len(layers)
        self.out_channels = inplanes
        last = self.last_stage()[-1]
        self.last_in_channels = last.conv1.in_channels
        self.last_stride = last.stride
        self.stride = 4 * 2 ** (len(layers) - 1)
        init_like_torchvision(self)

    def grid(self, size: int) -> int:
        """Side of the output map for a ``size`` x ``size`` input (every stride-2 step rounds up):
        conv1, maxpool, then layers 2..n."""
        return grid_size(size, self.stages + 1)

    def last_stage(self) -> nn.Sequential:
        return getattr(self, f"layer{self.stages}")

    def split_last(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, output) of the trunk's last residual block."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(frames))))
        for i in range(1, self.stages):
            x = getattr(self, f"layer{i}")(x)
        stage = self.last_stage()
        x = stage[:-1](x)
        return x, stage[-1](x)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.split_last(frames)[1]


def _stage(
    block: type[BasicBlock] | type[Bottleneck], inplanes: int, planes: int, blocks: int, stride: int
) -> tuple[nn.Sequential, int]:
    """torchvision's ``ResNet._make_layer`` (groups 1, no dilation)."""
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out)
        )
    modules: list[nn.Module] = [block(inplanes, planes, stride, downsample)]
    modules += [block(out, planes) for _ in range(1, blocks)]
    return nn.Sequential(*modules), out
