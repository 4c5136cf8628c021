"""Frozen trunks for M3-S's mid (image) and high (clip) tiers.

The paper's trunks (an ADE20K HRNet for the mid tier, ip-CSN-152 for the high tier) are not
available offline here. memo offers instead:

* mid: ``resmem`` (ResMem's 256-d embedding, weights from the ``resmem`` package) or
  ``torchvision:<arch>`` (classifier removed; weights supplied by the user), each averaged
  over the keyframes;
* high: ``torchvision:<video arch>`` (e.g. ``torchvision:r3d_18``, 512-d; user weights),
  over a clip ``(C, T, H, W)``;
* ``tiny`` / ``tiny3d``: small randomly initialised conv nets (fixed seed) for tests and
  for generated-data experiments — random features, not semantics.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from memo.models.fusion import backbone_dim, build_backbone
from memo.models.spec import Preprocess

TINY_DIM = 32
KINETICS_PREPROCESS = Preprocess(
    resize=(128, 171), crop=(112, 112), mean=(0.43216, 0.394666, 0.37645), std=(0.22803, 0.22145, 0.216989)
)
TINY_PREPROCESS = Preprocess(resize=(32,), crop=(32, 32))


class TinyTrunk(nn.Module):
    """Three strided convs + global average pooling -> ``TINY_DIM`` (2-D, or 3-D for clips)."""

    def __init__(self, three_d: bool = False, dim: int = TINY_DIM) -> None:
        super().__init__()
        conv = nn.Conv3d if three_d else nn.Conv2d
        pool = nn.AdaptiveAvgPool3d(1) if three_d else nn.AdaptiveAvgPool2d(1)
        widths = [3, 8, 16, dim]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            layers += [conv(a, b, 3, stride=2, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers, pool, nn.Flatten())
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():  # deterministic initial weights: the trunk is a fixed feature map
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * (0.5 if p.dim() > 1 else 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def build_image_trunk(name: str) -> nn.Module:
    return TinyTrunk() if name == "tiny" else build_backbone(name)


def image_trunk_dim(name: str) -> int:
    return TINY_DIM if name == "tiny" else backbone_dim(name)


def image_trunk_preprocess(name: str) -> Preprocess:
    from memo.models.fusion import backbone_preprocess

    return TINY_PREPROCESS if name == "tiny" else backbone_preprocess(name)


def build_clip_trunk(name: str) -> nn.Module:
    if name == "tiny3d":
        return TinyTrunk(three_d=True)
    if not name.startswith("torchvision:"):
        raise ValueError(f"unknown clip trunk {name!r} (tiny3d or torchvision:<video arch>, e.g. r3d_18)")
    return build_backbone(name)


def clip_trunk_dim(name: str) -> int:
    if name == "tiny3d":
        return TINY_DIM
    net = build_clip_trunk(name).eval()
    with torch.no_grad():
        return int(net(torch.zeros(1, 3, 8, 112, 112)).shape[1])


def clip_trunk_preprocess(name: str) -> Preprocess:
    return TINY_PREPROCESS if name == "tiny3d" else KINETICS_PREPROCESS


def pretrained_parts(args: dict[str, Any]) -> dict[str, str]:
    """Where each tier's frozen trunk comes from, and what is fitted (``memo models``)."""
    parts: dict[str, str] = {}
    for tier in ("mid", "high"):
        trunk = (args.get(tier) or {}).get("trunk")
        if tier not in args:
            continue
        if trunk is None:
            parts[tier] = "precomputed vector from the user's files"
        elif trunk in ("tiny", "tiny3d"):
            parts[tier] = f"{trunk}: fixed-seed random conv net, no pretrained weights"
        elif trunk == "resmem":
            parts[tier] = "ResMem's embedding, from the resmem package, offline"
        else:
            parts[tier] = f"frozen {trunk}: weights from the user's file (M3S.load_trunk)"
    parts["PCA, clusters, kNN bank, head"] = "fitted on the training set (fit_m3s)"
    return parts
