"""Frame trunks: a 2-D trunk cut after its stride-16 stage, ``(N, 3, H, W)`` ->
``(N, C, ceil(H/16), ceil(W/16))`` (AMNet, AMNetVid, VMemNet).

``resnet50`` (the AMNet / VMemNet default, ``layer3`` -> 1024 channels, 14 x 14 at 224 x 224),
``resnet18`` / ``resnet34`` (256 channels), ``resnet101`` / ``resnet152`` (1024): a
:class:`~memo.models.trunks.resnet.ResNetTrunk` of three stages at torchvision's width, so a
torchvision checkpoint loads key for key. ``small``: four stride-2 conv blocks, ``8 * width``
channels (tests, CPU experiments). ``resmem``: ResMem's own ResNet-152 to ``layer3`` with the
offline ResMem bundle's weights. ResMem's training changed that network's BatchNorm
statistics; we use it **whole**, with those statistics, and feed it ResMem's own
preprocessing (227 x 227, pixels in [0, 1]), the input distribution the statistics were
estimated on (:func:`~memo.models.trunks.common.reestimate_batchnorm` recomputes them for
anyone who prefers other inputs).

A frozen trunk (the default of AMNet, as in its released code, which trains only the
attention network) also stays in eval mode when the model trains (the released code left
it in train mode; that part is our choice).
"""

from __future__ import annotations

from torch import nn

from memo.models.trunks.common import FrozenAware, init_like_torchvision, small_conv_net
from memo.models.trunks.resnet import RESNETS, ResNetTrunk
from memo.models.weights import load_weights

FRAME_TRUNKS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resmem", "small")
_STAGE3_CHANNELS = {"resnet18": 256, "resnet34": 256, "resnet50": 1024, "resnet101": 1024, "resnet152": 1024}


def frame_trunk_channels(name: str, width: int = 16) -> int:
    if name == "small":
        return width * 8
    if name == "resmem":
        return 1024
    if name not in _STAGE3_CHANNELS:
        raise ValueError(f"unknown frame trunk {name!r} (one of {', '.join(FRAME_TRUNKS)})")
    return _STAGE3_CHANNELS[name]


def build_frame_trunk(name: str = "resnet50", width: int = 16, frozen: bool = True) -> FrozenAware:
    """The frame trunk ``name`` (``width``: the ``small`` trunk's only); weights random until
    :func:`memo.models.weights.load_weights` fills ``trunk.body``, except ResMem's."""
    channels = frame_trunk_channels(name, width)
    if name == "small":
        body = init_like_torchvision(small_conv_net(nn.Conv2d, nn.BatchNorm2d, width, [2] * 4))
        return FrozenAware(body, channels, frozen)
    arch = "resnet152" if name == "resmem" else name
    body = ResNetTrunk(arch, 64, RESNETS[arch][1][:3])
    if name == "resmem":
        _load_resmem_trunk(body)
    return FrozenAware(body, channels, frozen)


def _resmem_trunk_key(key: str) -> str | None:
    """A ResMem bundle key -> the trunk's (its ``features.*`` ResNet; the AlexNet branch is not the trunk)."""
    return key.removeprefix("features.") if key.startswith("features.") else None


def _load_resmem_trunk(body: nn.Module) -> None:
    from memo.models.named import resolve_model

    load_weights(body, resolve_model("resmem").weights_path, rename=_resmem_trunk_key)


def pretrained_source(trunk: str, argument: str = "backbone_weights", example: str = "ImageNet") -> str:
    """What a trunk's pretrained weights come from, for ``memo models`` (spec metadata)."""
    if trunk == "resmem":
        return (
            "ResMem's ResNet-152 to layer3 (offline resmem bundle, BatchNorm statistics as ResMem left them)"
        )
    if trunk == "small":
        return "none (small trunk, trained from scratch)"
    source = f"torchvision {trunk}: weights from the file given as {argument} (e.g. {example}), else random"
    if trunk in FRAME_TRUNKS:
        source += "; or trunk='resmem': ResMem's ResNet-152, offline"
    return source
