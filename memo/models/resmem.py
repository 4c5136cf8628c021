"""ResMem: image memorability from a ResNet-152 and an AlexNet-style branch.

Needell & Bainbridge, "Embracing New Techniques in Deep Learning for Estimating Image
Memorability", Computational Brain & Behavior, 2022. Trained on LaMem + MemCat. The
layer names and shapes follow the ``resmem`` PyPI package (v1.1.6) so its published
weights load unchanged; the forward pass is the package's, returning a dict.

Used on video as the VideoMem paper's frame baseline does (Cohendet et al., "VideoMem:
Constructing, Analyzing, Predicting Short-term and Long-term Video Memorability",
ICCV 2019): score each sampled frame, average the frame scores.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet152

from memo.errors import BundleError, MissingDependency
from memo.models.config import ModelConfig, arg
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess

LICENCE = (
    "ResMem Non-commercial License, (c) 2021 The University of Chicago: noncommercial use only "
    "(research by for-profit companies included); commercial use needs the Brain Bridge Lab's permission."
)


#: channels of the AlexNet-style branch's middle convolutions (the published network's)
CRUISE_ALTITUDE = 384


@dataclass(frozen=True)
class ResMemConfig(ModelConfig):
    """ResMem has no architecture argument (its published weights fix it): ``arch_args`` is empty."""

    architecture = "resmem"

    num_frames: int = arg(7, "keyframes per video, each scored alone", input=True)


def resmem_spec(**args: Any) -> ModelSpec:
    cfg = ResMemConfig.from_args(args)
    return ModelSpec(
        name="resmem",
        architecture="resmem",
        version="1.1.6",
        arch_args=cfg.arch_args(),
        inputs=(
            InputSpec(
                name="frames",
                stream="keyframes",
                num_frames=cfg.num_frames,
                preprocess=Preprocess(resize=(256, 256), crop=(227, 227)),
            ),
        ),
        outputs=(OutputSpec("score", "image memorability of the frame, in [0, 1]"),),
        unit="frame",
        description="ResMem image memorability (ResNet-152 + AlexNet branch, LaMem + MemCat), averaged over "
        "frames: the VideoMem paper's frame-averaged image memorability baseline",
        licence=LICENCE,
        export_atol=1e-4,
        metadata={
            "pretrained": "whole network: ResMem weights (trained on LaMem + MemCat), from the resmem "
            "package, offline"
        },
    )


class ResMem(nn.Module):
    def __init__(self, cfg: ResMemConfig | None = None) -> None:
        super().__init__()
        cruise_altitude = CRUISE_ALTITUDE
        self.features = resnet152(weights=None)
        self.conv1 = nn.Conv2d(3, 48, kernel_size=11, stride=4)
        self.pool1 = nn.MaxPool2d(3, 2)
        self.lrn1 = nn.LocalResponseNorm(5)
        self.conv2 = nn.Conv2d(48, 256, kernel_size=5, stride=1, padding=2, groups=2)
        self.pool2 = nn.MaxPool2d(3, 2)
        self.lrn2 = nn.LocalResponseNorm(5)
        self.conv3 = nn.Conv2d(256, cruise_altitude, kernel_size=3, padding=1, groups=2)
        self.conv4 = nn.Conv2d(cruise_altitude, cruise_altitude, kernel_size=3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(cruise_altitude, 256, kernel_size=3, padding=1, groups=2)
        self.pool5 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.fc6 = nn.Linear(9216 + 1000, 4096)
        self.drp6 = nn.Dropout(p=0.5)
        self.fc7 = nn.Linear(4096, 4096)
        self.drp7 = nn.Dropout(p=0.5)
        self.fc8 = nn.Linear(4096, 2048)
        self.drp8 = nn.Dropout(p=0.5)
        self.fc9 = nn.Linear(2048, 1024)
        self.fc10 = nn.Linear(1024, 512)
        self.fc11 = nn.Linear(512, 256)
        self.fc12 = nn.Linear(256, 1)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """The 256-d penultimate representation (used as a frozen video feature)."""
        cnv = self.lrn1(self.pool1(F.relu(self.conv1(frames))))
        cnv = self.lrn2(self.pool2(F.relu(self.conv2(cnv))))
        cnv = F.relu(self.conv5(F.relu(self.conv4(F.relu(self.conv3(cnv))))))
        feat = torch.flatten(self.pool5(cnv), 1)
        hid = torch.cat((feat, self.features(frames)), 1)
        hid = self.drp6(F.relu(self.fc6(hid)))
        hid = self.drp7(F.relu(self.fc7(hid)))
        hid = F.relu(self.fc8(hid))
        hid = F.relu(self.fc9(hid))
        hid = F.relu(self.fc10(hid))
        return F.relu(self.fc11(hid))

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"score": torch.sigmoid(self.fc12(self.embed(frames))).squeeze(1)}


def published_weights_file() -> Path:
    """The ``resmem`` package's weight file (``model.pt``); MissingDependency when not installed."""
    spec = importlib.util.find_spec("resmem")
    if spec is None or not spec.origin:
        raise MissingDependency("resmem", "resmem", "the default model 'resmem'")
    source = Path(spec.origin).parent / "model.pt"
    if not source.is_file():
        raise BundleError(f"{source}: the resmem package has no weights file (reinstall resmem)")
    return source


def published_state() -> dict[str, torch.Tensor]:
    """The package's published weights, read as tensors only (no code), like every weight file."""
    from memo.models.weights import read_weights_file

    return read_weights_file(published_weights_file())


def start_from_published(model: nn.Module) -> None:
    """``memo train --model resmem`` fine-tunes from the package's published weights."""
    model.load_state_dict(published_state())


@register_model(
    "resmem",
    spec=resmem_spec,
    config=ResMemConfig,
    recipe="video",
    note="the VideoMem paper's frame-averaged image-memorability baseline (Cohendet et al., ICCV 2019)",
    initial_weights=start_from_published,
    paper="Needell & Bainbridge, Computational Brain & Behavior 2022; averaged over frames it is the "
    "frame baseline of Cohendet et al., ICCV 2019 (VideoMem)",
)
def build_resmem(**arch_args: Any) -> nn.Module:
    return ResMem(ResMemConfig.from_arch_args(arch_args))
