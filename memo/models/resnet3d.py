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
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from memo.models.config import ModelConfig, arg
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess
from memo.models.stages import Stage, StagedModel, recipe_json
from memo.models.trunks import KINETICS_MEAN, KINETICS_STD, VIDEO_RESNETS, VideoTrunk
from memo.models.weights import LoadReport, load_weights

VARIANTS = VIDEO_RESNETS

RECIPE = (
    Stage(
        "new-layer", "head", "mse", 3, 1e-3, "new regression layer alone, trunk frozen (epochs, lr inferred)"
    ),
    Stage("fine-tune", "all", "mse", None, 1e-4, "whole network at a 10x lower rate (rate inferred)"),
)


@dataclass(frozen=True)
class ResNet3DConfig(ModelConfig):
    architecture = "resnet3d"

    variant: str = arg("r3d_18", f"trunk: one of {', '.join(VARIANTS)} (torchvision's video ResNets)")
    num_frames: int = arg(16, "consecutive frames per clip (the trunk pools over time)", input=True)
    fps: float = arg(15.0, "frame rate the clip is sampled at", input=True)
    size: int = arg(112, "crop size (frames resized to size * 8/7, 128 for 112)", input=True)
    width: int = arg(64, "channels of the trunk's stem (64: torchvision's)")
    layers: tuple[int, ...] = arg((2, 2, 2, 2), "residual blocks per stage ((2, 2, 2, 2): torchvision's)")
    outputs: tuple[str, ...] = arg(("score",), "one sigmoid output per name")
    dropout: float = arg(0.0, "dropout before the regression layer (training only)")


def resnet3d_spec(**args: Any) -> ModelSpec:
    cfg = ResNet3DConfig.from_args(args)
    variant, num_frames, size, outputs = cfg.variant, cfg.num_frames, cfg.size, cfg.outputs
    resize = (128,) if size == 112 else (round(size * 8 / 7),)
    return ModelSpec(
        name="resnet3d",
        architecture="resnet3d",
        arch_args=cfg.arch_args(),
        inputs=(
            InputSpec(
                name="clip",
                stream="clip",
                num_frames=num_frames,
                fps=cfg.fps,
                preprocess=Preprocess(resize=resize, crop=(size, size), mean=KINETICS_MEAN, std=KINETICS_STD),
            ),
        ),
        outputs=tuple(
            OutputSpec(o, f"predicted {o.replace('_', '-')} memorability, in [0, 1]") for o in outputs
        ),
        unit="video",
        description=f"VideoMem paper's fine-tuned 3D CNN baseline ({variant} on a {num_frames}-frame clip)",
        metadata={
            "recipe": recipe_json(RECIPE),
            "head_losses": {o: RECIPE[-1].loss for o in outputs},
            "pretrained": "trunk: Kinetics-400 weights of torchvision's "
            f"{variant}, from a local file (load_backbone); regression layer: new",
        },
    )


class ResNet3D(StagedModel):
    head_modules = ("head",)

    def __init__(self, cfg: ResNet3DConfig) -> None:
        super().__init__()
        self.outputs = list(cfg.outputs)
        self.trunk = VideoTrunk(cfg.variant, cfg.width, cfg.layers)
        self.head = nn.Sequential(
            nn.Dropout(cfg.dropout), nn.Linear(self.trunk.out_channels, len(self.outputs))
        )

    def load_backbone(self, path: str | os.PathLike[str]) -> LoadReport:
        """Trunk weights from a torchvision ``r3d_18``/``r2plus1d_18`` checkpoint file."""
        return load_weights(self.trunk, path)

    def forward(self, clip: torch.Tensor) -> dict[str, torch.Tensor]:
        scores = torch.sigmoid(self.head(self.trunk(clip)))
        return {name: scores[:, i] for i, name in enumerate(self.outputs)}


@register_model(
    "resnet3d",
    spec=resnet3d_spec,
    config=ResNet3DConfig,
    paper="Cohendet et al., ICCV 2019 (VideoMem baseline); trunks: Tran et al., CVPR 2018 (torchvision)",
    recipe="video",
)
def build_resnet3d(backbone_weights: str | None = None, **arch_args: Any) -> nn.Module:
    """``backbone_weights``: a torchvision r3d_18 / r2plus1d_18 file (not stored in the bundle)."""
    model = ResNet3D(ResNet3DConfig.from_arch_args(arch_args))
    if backbone_weights:
        model.load_backbone(backbone_weights)
    return model
