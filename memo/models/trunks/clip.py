"""Clip trunks: a 3-D trunk mapping a clip ``(N, 3, T, H, W)`` to a vector ``(N, D)``
(VMemNet's clip encoder, M3-S's high tier).

* ``r3d_18`` / ``r2plus1d_18``: :class:`~memo.models.trunks.resnet.VideoTrunk`, torchvision's
  video ResNets key for key (512-d); ``mc3_18`` and any other torchvision video model:
  torchvision's own module, classifier removed. Weights from a file the user names, through
  :func:`memo.models.weights.load_weights` (nothing is downloaded). A ``torchvision:`` prefix
  is accepted (M3-S's spelling: ``torchvision:r3d_18``).
* ``small``: three Conv3d blocks, ``4 * width``-d (tests, CPU experiments).
* ``tiny3d``: :class:`~memo.models.trunks.common.TinyTrunk` in 3-D, fixed-seed random.
"""

from __future__ import annotations

import torch
from torch import nn

from memo.models.spec import Preprocess
from memo.models.trunks.common import (
    KINETICS_PREPROCESS,
    TINY_DIM,
    TINY_PREPROCESS,
    FrozenAware,
    TinyTrunk,
    init_like_torchvision,
    small_conv_net,
)
from memo.models.trunks.embedders import torchvision_without_classifier
from memo.models.trunks.resnet import VIDEO_RESNETS, VideoTrunk

CLIP_TRUNKS = ("r3d_18", "r2plus1d_18", "mc3_18", "small", "tiny3d")


def build_clip_trunk(name: str = "r3d_18", width: int = 16, frozen: bool = False) -> FrozenAware:
    """The clip trunk ``name`` (``width``: the ``small`` trunk's only), in a :class:`FrozenAware`
    (a model that keeps its own frozen trunk takes ``.body``)."""
    if name == "small":
        body = init_like_torchvision(
            small_conv_net(nn.Conv3d, nn.BatchNorm3d, width, [(1, 2, 2), 2, 2], nn.AdaptiveAvgPool3d)
        )
        return FrozenAware(body, width * 4, frozen)
    if name == "tiny3d":
        return FrozenAware(TinyTrunk(three_d=True), TINY_DIM, frozen)
    arch = name.removeprefix("torchvision:")
    if arch in VIDEO_RESNETS:
        video = VideoTrunk(arch)
        return FrozenAware(video, video.out_channels, frozen)
    if arch == name and arch not in CLIP_TRUNKS:
        raise ValueError(
            f"unknown clip trunk {name!r} (one of {', '.join(CLIP_TRUNKS)}, or torchvision:<video arch>)"
        )
    net = torchvision_without_classifier(arch).eval()
    with torch.no_grad():
        dim = int(net(torch.zeros(1, 3, 8, 112, 112)).shape[1])
    return FrozenAware(net, dim, frozen)


def clip_trunk_dim(name: str, width: int = 16) -> int:
    if name == "tiny3d":
        return TINY_DIM
    if name == "small":
        return width * 4
    if name.removeprefix("torchvision:") in (*VIDEO_RESNETS, "mc3_18"):
        return 512
    return build_clip_trunk(name, width).out_channels


def clip_trunk_preprocess(name: str) -> Preprocess:
    return TINY_PREPROCESS if name == "tiny3d" else KINETICS_PREPROCESS
