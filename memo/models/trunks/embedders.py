"""Frame embedders: a frozen image network that turns one frame into one vector.

Shared by the fusion model (its ``keyframes`` inputs), M3-S's mid tier and training's
video-feature cache (:mod:`memo.data.video_features`), so all compute exactly the same
embedding without building a whole model around the network.

* ``resmem``: ResMem (Needell & Bainbridge 2022), its 256-d penultimate layer
  (``ResMem.embed``), on frames resized to 256 x 256 and centre-cropped to 227.
* ``torchvision:<arch>``: any torchvision classifier with its classification layer
  replaced by the identity, on ImageNet-normalised 224 x 224 crops; weights are loaded
  by the caller through :func:`memo.models.weights.load_weights` (never downloaded).
* ``tiny``: :class:`~memo.models.trunks.common.TinyTrunk`, fixed-seed random (tests).

A video's embedding is the mean over its frames of the per-frame embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from memo.models.spec import InputSpec, Preprocess
from memo.models.trunks.common import (
    IMAGENET_PREPROCESS,
    RESMEM_PREPROCESS,
    TINY_DIM,
    TINY_PREPROCESS,
    TinyTrunk,
)

_CLASSIFIERS = ("fc", "classifier", "head", "heads")


def torchvision_without_classifier(arch: str) -> nn.Module:
    """torchvision's ``arch`` built with ``weights=None``, its classification layer replaced by
    the identity (``fc``, ``classifier``, ``head`` or ``heads``, the first it has)."""
    import torchvision

    try:
        net = torchvision.models.get_model(arch, weights=None)
    except ValueError:
        raise ValueError(f"unknown torchvision model {arch!r}") from None
    for attr in _CLASSIFIERS:
        if hasattr(net, attr):
            setattr(net, attr, nn.Identity())
            break
    return net


def build_backbone(name: str) -> nn.Module:
    """``resmem``, ``tiny`` or ``torchvision:<arch>`` (classifier replaced by identity; weights
    loaded later)."""
    if name == "resmem":
        from memo.models.resmem import ResMem

        return ResMem()
    if name == "tiny":
        return TinyTrunk()
    if name.startswith("torchvision:"):
        return torchvision_without_classifier(name.split(":", 1)[1])
    raise ValueError(f"unknown frame embedder {name!r} (resmem, tiny or torchvision:<arch>)")


def backbone_dim(name: str) -> int:
    if name == "resmem":
        return 256
    if name == "tiny":
        return TINY_DIM
    net = build_backbone(name).eval()
    with torch.no_grad():
        return int(net(torch.zeros(1, 3, 224, 224)).shape[1])


def backbone_preprocess(name: str) -> Preprocess:
    if name == "resmem":
        return RESMEM_PREPROCESS
    return TINY_PREPROCESS if name == "tiny" else IMAGENET_PREPROCESS


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
