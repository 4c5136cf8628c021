"""The residual trunks memo builds itself, under torchvision's module names.

:class:`ResNetTrunk` (2-D, frames -> maps) is built from torchvision's ``BasicBlock`` /
``Bottleneck`` with torchvision's names (``conv1``, ``bn1``, ``layer1`` ... ``layer4``), so at
width 64 a torchvision ResNet checkpoint loads unchanged; fewer than four stages stops the
trunk early (stride 16 after three). :class:`VideoTrunk` (3-D, clips -> vectors) is
torchvision's ``VideoResNet`` (``r3d_18``, ``r2plus1d_18``) without ``fc``, key for key at the
defaults. Width and blocks per stage shrink for tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models import resnet as resnet2d
from torchvision.models.video import resnet as resnet3d

from memo.models.trunks.common import grid_size, init_like_torchvision

Block2d = type[resnet2d.BasicBlock] | type[resnet2d.Bottleneck]

#: torchvision ResNet depths: block type and blocks per stage.
RESNETS: dict[str, tuple[Block2d, tuple[int, ...]]] = {
    "resnet18": (resnet2d.BasicBlock, (2, 2, 2, 2)),
    "resnet34": (resnet2d.BasicBlock, (3, 4, 6, 3)),
    "resnet50": (resnet2d.Bottleneck, (3, 4, 6, 3)),
    "resnet101": (resnet2d.Bottleneck, (3, 4, 23, 3)),
    "resnet152": (resnet2d.Bottleneck, (3, 8, 36, 3)),
}
VIDEO_RESNETS = ("r3d_18", "r2plus1d_18")


class ResNetTrunk(nn.Module):
    """A torchvision ResNet without its classifier: ``(N, 3, H, W) -> (N, C, H/s, W/s)``.

    :meth:`split_last` gives the input and output of the last residual block (the semantic
    model's attention branch runs a 1x1 conv in parallel to that block)."""

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


def _stage(block: Block2d, inplanes: int, planes: int, blocks: int, stride: int) -> tuple[nn.Sequential, int]:
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


def _video_stem(variant: str, width: int) -> nn.Sequential:
    """torchvision's ``BasicStem`` / ``R2Plus1dStem`` at ``width`` output channels."""
    if variant == "r3d_18":
        return nn.Sequential(
            nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
    mid = max(1, width * 45 // 64)
    return nn.Sequential(
        nn.Conv3d(3, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, width, (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


class VideoTrunk(nn.Module):
    """torchvision's ``VideoResNet`` without ``fc``: ``(N, 3, T, H, W) -> (N, C)``."""

    def __init__(
        self, variant: str = "r3d_18", width: int = 64, layers: Sequence[int] = (2, 2, 2, 2)
    ) -> None:
        super().__init__()
        if variant not in VIDEO_RESNETS:
            raise ValueError(f"unknown 3D trunk {variant!r} (one of {', '.join(VIDEO_RESNETS)})")
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be 4 positive block counts, got {list(layers)}")
        conv = resnet3d.Conv3DSimple if variant == "r3d_18" else resnet3d.Conv2Plus1D
        self.stem = _video_stem(variant, width)
        inplanes = width
        for i, blocks in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(
                    nn.Conv3d(inplanes, planes, 1, stride=conv.get_downsample_stride(stride), bias=False),
                    nn.BatchNorm3d(planes),
                )
            modules = [resnet3d.BasicBlock(inplanes, planes, conv, stride, downsample)]
            modules += [resnet3d.BasicBlock(planes, planes, conv) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*modules))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.out_channels = inplanes
        init_like_torchvision(self)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        x = self.stem(clip)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)
