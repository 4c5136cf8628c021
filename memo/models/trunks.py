"""Convolutional trunks shared by AMNet, AMNetVid and VMemNet (frame and clip encoders).

* :func:`build_frame_trunk`: a 2D trunk cut after its stride-16 stage, mapping
  ``(N, 3, H, W)`` to ``(N, C, ceil(H/16), ceil(W/16))``. ``resnet50`` (the AMNet /
  VMemNet default, ``layer3`` -> 1024 channels, 14 x 14 at 224 x 224), ``resnet18`` /
  ``resnet34`` (256 channels), ``resnet101`` / ``resnet152`` (1024), ``small`` (four
  stride-2 conv blocks, ``8 * width`` channels: tests and CPU experiments) and ``resmem``
  (ResMem's own ResNet-152 to ``layer3``, see below).
* :func:`build_clip_trunk`: a 3D trunk mapping a clip ``(N, 3, T, H, W)`` to a vector:
  torchvision's ``r3d_18`` / ``r2plus1d_18`` / ``mc3_18`` (512-d, classifier removed) or
  ``small`` (three Conv3d blocks, ``4 * width``-d).

Weights: nothing is downloaded. torchvision trunks are built with ``weights=None`` and
take pretrained weights only from a file the user names (:func:`load_trunk_weights`:
safetensors, or ``torch.load(weights_only=True)``, i.e. tensors only). ``resmem`` takes the
ResNet-152 of the offline ResMem bundle (the ``resmem`` package's published weights).
ResMem's training changed that network's BatchNorm statistics; we use it **whole**, with
those statistics, and feed it ResMem's own preprocessing (227 x 227, pixels in [0, 1], no
ImageNet normalisation), which is the input distribution the statistics were estimated
on. :func:`reestimate_batchnorm` recomputes the statistics on the user's frames for
anyone who prefers to feed the trunk other inputs.

A frozen trunk (the default of AMNet, as in its released code, which trains only the
attention network) also stays in eval mode when the model trains, so BatchNorm
statistics are not updated by batches it does not learn from (the released code left
them in train mode; that part is our choice).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from memo.errors import BundleError
from memo.models.weights import load_weights, read_weights_file  # noqa: F401  (read_weights_file: old import path)

log = logging.getLogger(__name__)

FRAME_TRUNKS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resmem", "small")
CLIP_TRUNKS = ("r3d_18", "r2plus1d_18", "mc3_18", "small")
_STAGE3_CHANNELS = {"resnet18": 256, "resnet34": 256, "resnet50": 1024, "resnet101": 1024, "resnet152": 1024}


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


def grid_size(size: int, stages: int = 4) -> int:
    """Side of the feature map after ``stages`` stride-2 layers of padding ``k // 2`` (ceil halving)."""
    for _ in range(stages):
        size = (size + 1) // 2
    return size


class FrozenAware(nn.Module):
    """A wrapper whose module stays in eval mode, without gradients, while ``frozen``."""

    def __init__(self, body: nn.Module, out_channels: int, frozen: bool) -> None:
        super().__init__()
        self.body = body
        self.out_channels = out_channels
        self.frozen = frozen
        self.set_frozen(frozen)

    def set_frozen(self, frozen: bool) -> None:
        self.frozen = frozen
        for param in self.body.parameters():
            param.requires_grad_(not frozen)
        if frozen:
            self.body.eval()

    def train(self, mode: bool = True) -> FrozenAware:
        super().train(mode)
        if self.frozen:
            self.body.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _ResNetStage3(nn.Module):
    """A torchvision ResNet up to and including ``layer3`` (stride 16)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))


def _small_2d(width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for i in range(4):
        out = width * 2 ** min(i, 3)
        layers += [
            nn.Conv2d(channels, out, 3, stride=2, padding=1),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
        ]
        channels = out
    return nn.Sequential(*layers)


def init_like_torchvision(module: nn.Module) -> None:
    """torchvision ResNets' initialisation (He normal, fan-out convs; BatchNorm 1 and 0), so a
    random trunk keeps its signal. The one init of every trunk memo builds."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm3d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def _kaiming(body: nn.Module) -> nn.Module:
    init_like_torchvision(body)
    return body


def frame_trunk_channels(name: str, width: int = 16) -> int:
    if name == "small":
        return width * 8
    if name == "resmem":
        return 1024
    if name not in _STAGE3_CHANNELS:
        raise ValueError(f"unknown frame trunk {name!r} (one of {', '.join(FRAME_TRUNKS)})")
    return _STAGE3_CHANNELS[name]


def build_frame_trunk(name: str = "resnet50", width: int = 16, frozen: bool = True) -> FrozenAware:
    """A 2D trunk cut at stride 16; weights random until :func:`load_trunk_weights` (or ResMem's)."""
    channels = frame_trunk_channels(name, width)
    if name == "small":
        body: nn.Module = _kaiming(_small_2d(width))
    else:
        import torchvision

        arch = "resnet152" if name == "resmem" else name
        body = _ResNetStage3(torchvision.models.get_model(arch, weights=None))
        if name == "resmem":
            _load_resmem_trunk(body)
    return FrozenAware(body, channels, frozen)


def build_clip_trunk(name: str = "r3d_18", width: int = 16, frozen: bool = False) -> FrozenAware:
    """A 3D trunk: ``(N, 3, T, H, W)`` -> ``(N, D)``."""
    if name == "small":
        layers: list[nn.Module] = []
        channels = 3
        for i in range(3):
            out = width * 2 ** min(i, 2)
            stride = (1, 2, 2) if i == 0 else (2, 2, 2)
            layers += [
                nn.Conv3d(channels, out, 3, stride=stride, padding=1),
                nn.BatchNorm3d(out),
                nn.ReLU(inplace=True),
            ]
            channels = out
        body: nn.Module = _kaiming(nn.Sequential(*layers, nn.AdaptiveAvgPool3d(1), nn.Flatten()))
        return FrozenAware(body, channels, frozen)
    if name not in CLIP_TRUNKS:
        raise ValueError(f"unknown clip trunk {name!r} (one of {', '.join(CLIP_TRUNKS)})")
    import torchvision

    net = torchvision.models.get_model(name, weights=None)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return FrozenAware(net, dim, frozen)


def load_trunk_weights(trunk: FrozenAware, path: str | Path, prefix: str = "") -> int:
    """Copy the tensors of ``path`` into ``trunk`` (keys of a full torchvision model work):
    :func:`memo.models.weights.load_weights` with ``prefix`` stripped from the file's keys first
    (e.g. ``"features."`` for ResMem). Returns how many tensors were loaded."""
    report = load_weights(trunk.body, path, prefixes=(prefix,) if prefix else ())
    log.info("loaded %d trunk tensors from %s", report.loaded, path)
    return report.loaded


def _load_resmem_trunk(body: nn.Module) -> None:
    from memo.models.named import resolve_model

    state = resolve_model("resmem").state_dict()
    prefix = "features."
    own = body.state_dict()
    wanted = {k: state[prefix + k] for k in own if prefix + k in state}
    missing = sorted(set(own) - set(wanted))
    if missing:
        raise BundleError(f"resmem bundle: trunk tensor {missing[0]!r} missing")
    body.load_state_dict(wanted)


@torch.no_grad()
def reestimate_batchnorm(trunk: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Recompute every BatchNorm's running statistics as the plain average over ``batches``.

    For using a trunk (e.g. ResMem's) on inputs unlike those its statistics came from.
    Returns the number of batches seen. The trunk is left in eval mode.
    """
    norms = [m for m in trunk.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    trunk.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average
        norm.train()
    seen = 0
    for batch in batches:
        trunk(batch)
        seen += 1
    for norm, momentum in zip(norms, saved, strict=True):
        norm.momentum = momentum
        norm.eval()
    return seen
