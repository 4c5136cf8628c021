"""Frozen image backbones that turn a video's frames into one vector.

Shared by the fusion model (its ``keyframes`` inputs) and by training's video-feature
cache (:mod:`memo.data.video_features`), so both compute exactly the same embedding
without building a whole model around the backbone.

* ``resmem``: ResMem (Needell & Bainbridge 2022), its 256-d penultimate layer
  (``ResMem.embed``), on frames resized to 256 x 256 and centre-cropped to 227.
* ``torchvision:<arch>``: any torchvision classifier with its classification layer
  replaced by the identity, on ImageNet-normalised 224 x 224 crops; weights are loaded
  by the caller (never downloaded).

A video's embedding is the mean over its frames of the per-frame embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from memo.models.spec import InputSpec, Preprocess

RESMEM_PREPROCESS = Preprocess(resize=(256, 256), crop=(227, 227))
IMAGENET_PREPROCESS = Preprocess(
    resize=(256,), crop=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
)


def build_backbone(name: str) -> nn.Module:
    """``resmem`` or ``torchvision:<arch>`` (classifier replaced by identity; weights loaded later)."""
    if name == "resmem":
        from memo.models.resmem import ResMem

        return ResMem()
    if name.startswith("torchvision:"):
        import torchvision

        arch = name.split(":", 1)[1]
        try:
            net = torchvision.models.get_model(arch, weights=None)
        except ValueError:
            raise ValueError(f"unknown torchvision model {arch!r}") from None
        for attr in ("fc", "classifier", "head", "heads"):
            if hasattr(net, attr):
                setattr(net, attr, nn.Identity())
                break
        return net
    raise ValueError(f"unknown video backbone {name!r} (resmem or torchvision:<arch>)")


def backbone_dim(name: str) -> int:
    if name == "resmem":
        return 256
    net = build_backbone(name).eval()
    with torch.no_grad():
        return int(net(torch.zeros(1, 3, 224, 224)).shape[1])


def backbone_preprocess(name: str) -> Preprocess:
    return RESMEM_PREPROCESS if name == "resmem" else IMAGENET_PREPROCESS


def backbone_input(name: str, num_frames: int = 7, input_name: str = "frames") -> InputSpec:
    """The keyframes input a backbone reads: ``num_frames`` frames, preprocessed for it."""
    return InputSpec(
        name=input_name, stream="keyframes", num_frames=num_frames, preprocess=backbone_preprocess(name)
    )


def embed_frames(backbone: nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """``(B, T, C, H, W)`` frames -> ``(B, D)``: the backbone's per-frame embedding averaged over time."""
    b, t = frames.shape[:2]
    embed = getattr(backbone, "embed", backbone)
    return embed(frames.flatten(0, 1)).view(b, t, -1).mean(1)
