"""Every trunk memo builds, in one package; weights only through :mod:`memo.models.weights`.

* frame trunks (``(N, 3, H, W)`` -> maps): :func:`build_frame_trunk` (named, cut at stride
  16: AMNet, AMNetVid, VMemNet) over :class:`ResNetTrunk` (any depth and width: the semantic
  model, the CNN+Transformer), :mod:`memo.models.trunks.frame`;
* clip trunks (``(N, 3, T, H, W)`` -> vectors): :func:`build_clip_trunk` (VMemNet, M3-S's
  high tier) over :class:`VideoTrunk` (``resnet3d``), :mod:`memo.models.trunks.clip`;
* frame embedders (a frame -> a vector: fusion-mlp, M3-S's mid tier, the video-feature
  cache): :func:`build_backbone`, :mod:`memo.models.trunks.embedders`;
* what they share (initialisation, the frozen wrapper, map geometry, BatchNorm
  re-estimation, the preprocessing each family's weights expect): :mod:`memo.models.trunks.common`.

Nothing is downloaded: a trunk's pretrained weights come from a file the user names, read by
:func:`memo.models.weights.load_weights` (tensors only, shapes checked), or from the offline
ResMem bundle.
"""

from memo.models.trunks.clip import CLIP_TRUNKS, build_clip_trunk, clip_trunk_dim, clip_trunk_preprocess
from memo.models.trunks.common import (
    IMAGENET_MEAN,
    IMAGENET_PREPROCESS,
    IMAGENET_STD,
    KINETICS_MEAN,
    KINETICS_PREPROCESS,
    KINETICS_STD,
    RESMEM_PREPROCESS,
    TINY_DIM,
    TINY_PREPROCESS,
    FrozenAware,
    TinyTrunk,
    grid_size,
    imagenet_preprocess,
    init_like_torchvision,
    reestimate_batchnorm,
)
from memo.models.trunks.embedders import (
    backbone_dim,
    backbone_input,
    backbone_preprocess,
    build_backbone,
    embed_frames,
)
from memo.models.trunks.frame import FRAME_TRUNKS, build_frame_trunk, frame_trunk_channels, pretrained_source
from memo.models.trunks.resnet import RESNETS, VIDEO_RESNETS, ResNetTrunk, VideoTrunk

__all__ = [
    "CLIP_TRUNKS",
    "FRAME_TRUNKS",
    "IMAGENET_MEAN",
    "IMAGENET_PREPROCESS",
    "IMAGENET_STD",
    "KINETICS_MEAN",
    "KINETICS_PREPROCESS",
    "KINETICS_STD",
    "RESMEM_PREPROCESS",
    "RESNETS",
    "TINY_DIM",
    "TINY_PREPROCESS",
    "VIDEO_RESNETS",
    "FrozenAware",
    "ResNetTrunk",
    "TinyTrunk",
    "VideoTrunk",
    "backbone_dim",
    "backbone_input",
    "backbone_preprocess",
    "build_backbone",
    "build_clip_trunk",
    "build_frame_trunk",
    "clip_trunk_dim",
    "clip_trunk_preprocess",
    "embed_frames",
    "frame_trunk_channels",
    "grid_size",
    "imagenet_preprocess",
    "init_like_torchvision",
    "pretrained_source",
    "reestimate_batchnorm",
]
