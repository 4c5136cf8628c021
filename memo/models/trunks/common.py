"""What every trunk shares: torchvision's initialisation, the frozen wrapper, feature-map
geometry, BatchNorm re-estimation and the preprocessing the trunks' weights expect."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from memo.models.spec import Preprocess

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: torchvision's ImageNet evaluation transform (resize 256, centre crop 224).
IMAGENET_PREPROCESS = Preprocess(resize=(256,), crop=(224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD)
#: ResMem's transform (resize 256 x 256, centre crop 227, pixels in [0, 1]).
RESMEM_PREPROCESS = Preprocess(resize=(256, 256), crop=(227, 227))
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
#: torchvision's Kinetics-400 video transform (resize 128 x 171, centre crop 112).
KINETICS_PREPROCESS = Preprocess(resize=(128, 171), crop=(112, 112), mean=KINETICS_MEAN, std=KINETICS_STD)
#: The fixed-seed tiny trunks' input (tests, generated-data experiments).
TINY_PREPROCESS = Preprocess(resize=(32,), crop=(32, 32))
TINY_DIM = 32


def imagenet_preprocess(size: int = 224) -> Preprocess:
    """ImageNet normalisation; resize the shorter side to ``size * 8/7`` then centre-crop ``size``."""
    if size == 224:
        return IMAGENET_PREPROCESS
    return Preprocess(resize=(round(size * 8 / 7),), crop=(size, size), mean=IMAGENET_MEAN, std=IMAGENET_STD)


def grid_size(size: int, stages: int = 4) -> int:
    """Side of the feature map after ``stages`` stride-2 layers of padding ``k // 2`` (ceil halving)."""
    for _ in range(stages):
        size = (size + 1) // 2
    return size


def init_like_torchvision(module: nn.Module) -> nn.Module:
    """torchvision ResNets' initialisation (He normal, fan-out convs; BatchNorm 1 and 0), so a
    random trunk keeps its signal. The one init of every trunk memo builds; returns ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm3d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return module


def small_conv_net(
    conv: type[nn.Conv2d] | type[nn.Conv3d],
    norm: type[nn.BatchNorm2d] | type[nn.BatchNorm3d],
    width: int,
    strides: Sequence[int | tuple[int, ...]],
    pool: type[nn.AdaptiveAvgPool3d] | None = None,
) -> nn.Sequential:
    """The ``small`` trunk, in 2-D (frames) or 3-D (clips): one block of 3-wide ``conv``,
    ``norm`` and ReLU per stride, ``width * 2**i`` channels at block ``i``; then, with ``pool``,
    global pooling to a vector. Layer ``k`` of the Sequential is the same kind in 2-D and 3-D,
    so the state-dict keys are ``{3i}.weight`` (conv) and ``{3i + 1}.*`` (norm) either way."""
    layers: list[nn.Module] = []
    channels = 3
    for i, stride in enumerate(strides):
        out = width * 2**i
        layers += [conv(channels, out, 3, stride=stride, padding=1), norm(out), nn.ReLU(inplace=True)]
        channels = out
    if pool is not None:
        layers += [pool(1), nn.Flatten()]
    return nn.Sequential(*layers)


class FrozenAware(nn.Module):
    """A wrapper whose module stays in eval mode, without gradients, while ``frozen``.

    A frozen trunk also stays in eval mode when the model trains, so BatchNorm statistics are
    not updated by batches it does not learn from."""

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


class TinyTrunk(nn.Module):
    """Three strided convs + global average pooling -> ``dim`` (2-D, or 3-D for clips), with
    fixed-seed weights: a fixed random feature map for tests, not semantics."""

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
