"""``resnet3d``: the VideoMem paper's fine-tuned 3D CNN baseline.

Cohendet et al., "VideoMem: Constructing, Analyzing, Predicting Short-term and Long-term
Video Memorability", ICCV 2019, section on baselines: a 3D ResNet pretrained on an action
recognition dataset, its classifier replaced by a new regression layer that is trained
alone for a few epochs, then the whole network fine-tuned at a lower learning rate.

From the paper: a 3D ResNet on a clip of consecutive frames, a new regression layer, the
two-stage fine-tuning. From the issue (memo's choice): torchvision's ``r3d_18`` and
``r2plus1d_18`` trunks (Tran et al., CVPR 2018; Kinetics-400 weights loadable from a
local file with :meth:`ResNet3D.load_backbone`). Inferred (not stated in what we have of
the paper): the sigmoid on the regression layer (scores in [0, 1]), the clip of 16 frames
at 15 fps centred in the video (the temporal scale of torchvision's Kinetics training),
112x112 crops of frames resized to 128 px (torchvision's Kinetics preprocessing), the
stage lengths and learning rates in :data:`RECIPE` (3 epochs at 1e-3 for the new layer,
then 1e-4 for everything) and the MSE loss.

The trunks are rebuilt here from torchvision's own video blocks (``BasicBlock``,
``Conv3DSimple``, ``Conv2Plus1D``) under torchvision's module names, so that the width
and the blocks per stage can shrink for tests; at the defaults the state dict is
torchvision's key for key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, Conv3DSimple

from memo.models.local_weights import LoadReport, load_into
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess
from memo.models.stages import Stage, StagedModel, recipe_json
from memo.models.trunks import init_like_torchvision

VARIANTS = ("r3d_18", "r2plus1d_18")
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

RECIPE = (
    Stage(
        "new-layer", "head", "mse", 3, 1e-3, "new regression layer alone, trunk frozen (epochs, lr inferred)"
    ),
    Stage("fine-tune", "all", "mse", None, 1e-4, "whole network at a 10x lower rate (rate inferred)"),
)


def resnet3d_spec(
    variant: str = "r3d_18",
    frames: int = 16,
    fps: float = 15.0,
    size: int = 112,
    width: int = 64,
    layers: Sequence[int] = (2, 2, 2, 2),
    outputs: Sequence[str] = ("score",),
) -> ModelSpec:
    resize = (128,) if size == 112 else (round(size * 8 / 7),)
    return ModelSpec(
        name="resnet3d",
        architecture="resnet3d",
        arch_args={"variant": variant, "width": width, "layers": list(layers), "outputs": list(outputs)},
        inputs=(
            InputSpec(
                name="clip",
                stream="clip",
                num_frames=frames,
                fps=fps,
                preprocess=Preprocess(resize=resize, crop=(size, size), mean=KINETICS_MEAN, std=KINETICS_STD),
            ),
        ),
        outputs=tuple(
            OutputSpec(o, f"predicted {o.replace('_', '-')} memorability, in [0, 1]") for o in outputs
        ),
        unit="video",
        description=f"VideoMem paper's fine-tuned 3D CNN baseline ({variant} on a {frames}-frame clip)",
        metadata={
            "recipe": recipe_json(RECIPE),
            "head_losses": {o: RECIPE[-1].loss for o in outputs},
            "pretrained": "trunk: Kinetics-400 weights of torchvision's "
            f"{variant}, from a local file (load_backbone); regression layer: new",
        },
    )


def _stem(variant: str, width: int) -> nn.Sequential:
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
        if variant not in VARIANTS:
            raise ValueError(f"unknown 3D trunk {variant!r} (one of {', '.join(VARIANTS)})")
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be 4 positive block counts, got {list(layers)}")
        conv = Conv3DSimple if variant == "r3d_18" else Conv2Plus1D
        self.stem = _stem(variant, width)
        inplanes = width
        for i, blocks in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(
                    nn.Conv3d(inplanes, planes, 1, stride=conv.get_downsample_stride(stride), bias=False),
                    nn.BatchNorm3d(planes),
                )
            modules = [BasicBlock(inplanes, planes, conv, stride, downsample)]
            modules += [BasicBlock(planes, planes, conv) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*modules))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.out_channels = inplanes
        init_like_torchvision(self)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        x = self.stem(clip)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)


class ResNet3D(StagedModel):
    head_modules = ("head",)

    def __init__(
        self,
        variant: str = "r3d_18",
        width: int = 64,
        layers: Sequence[int] = (2, 2, 2, 2),
        outputs: Sequence[str] = ("score",),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.outputs = list(outputs)
        self.trunk = VideoTrunk(variant, width, layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.trunk.out_channels, len(self.outputs)))

    def load_backbone(self, path: str | os.PathLike[str]) -> LoadReport:
        """Trunk weights from a torchvision ``r3d_18``/``r2plus1d_18`` checkpoint file."""
        return load_into(self.trunk, path)

    def forward(self, clip: torch.Tensor) -> dict[str, torch.Tensor]:
        scores = torch.sigmoid(self.head(self.trunk(clip)))
        return {name: scores[:, i] for i, name in enumerate(self.outputs)}


@register_model(
    "resnet3d",
    spec=resnet3d_spec,
    paper="Cohendet et al., ICCV 2019 (VideoMem baseline); trunks: Tran et al., CVPR 2018 (torchvision)",
    recipe="video",
)
def build_resnet3d(backbone_weights: str | None = None, **arch_args: Any) -> nn.Module:
    """``backbone_weights``: a torchvision r3d_18 / r2plus1d_18 file (not stored in the bundle)."""
    model = ResNet3D(**arch_args)
    if backbone_weights:
        model.load_backbone(backbone_weights)
    return model
