"""``amnet``: AMNet, image memorability with iterated soft attention, scored per frame.

Fajtl, Argyriou, Monekosso & Remagnino, "AMNet: Memorability Estimation with Attention",
CVPR 2018; released code github.com/ok1zjf/AMNet (``amnet_model.py``, ``amnet.py``, MIT).

From the paper and the released code:

* ResNet-50 cut after ``layer3``: 1024 x 14 x 14 at 224 x 224 (test transform: stretch to
  224 x 224, ImageNet normalisation); the trunk is frozen (the released ``train_epoch``
  sets ``requires_grad=False`` on it and trains the rest).
* a 1 x 1 conv to ``attn_dim`` channels + BatchNorm + ReLU + dropout 0.8 -> annotation
  vectors ``a`` (L = 196 locations); LSTM state initialised as ``tanh(Linear(mean(a)))``;
  ``e = dropout(relu(W_e a))``; at each of 3 steps the attention logits are
  ``w · dropout(relu(e + W_h h))`` with ``W_h h`` one value per location, softmax over
  the 14 x 14 grid, context ``z = sum alpha a``, one LSTM step (hidden 1024), dropout 0.5,
  and a regression MLP (1024 -> 512 -> 1) gives that step's output.
* the prediction is the mean of the step outputs (``postprocess`` with the default
  ``last_step_prediction=False``; the paper's figure says the step scores are "added"),
  mapped back to a memorability as ``mean / target_scale + target_mean`` (LaMem: 2.0 and
  0.754); training regresses that mean on ``(y - target_mean) * target_scale`` with MSE,
  plus an optional attention-spreading term (:func:`attention_penalty`).

Where we differ or infer: ``attn_dim`` defaults to 512 as the issue describes, and as
``AMemNetModel``'s own default; the released ``amnet.py`` instantiates it with
``a_vec_size=1024``, so load the released LaMem weights (:func:`load_released_amnet`)
into ``attn_dim=1024``. The frozen trunk stays in eval mode while training (the released
code let its BatchNorm statistics drift). ``nn.LSTMCell`` replaces a one-step
``nn.LSTM`` (same parameters, renamed by the loader). Our outputs: ``score`` and the
per-step scores ``step_1..step_S`` on the memorability scale (each is the step output
mapped as above, so ``score`` is their mean).

ONNX: the 3 attention steps run a fixed number of times in a Python loop that tracing
unrolls into a static graph; only the batch axis is dynamic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from memo.models.config import ModelConfig, arg
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess
from memo.models.trunks import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_frame_trunk,
    frame_trunk_channels,
    grid_size,
    pretrained_source,
)
from memo.models.weights import load_weights


def frame_preprocess(trunk: str, size: int) -> Preprocess:
    """AMNet's test transform (stretch to size x size, ImageNet normalisation); ResMem's for ``resmem``."""
    if trunk == "resmem":
        return Preprocess(resize=(size + 29, size + 29), crop=(size, size))
    return Preprocess(resize=(size, size), crop=(size, size), mean=IMAGENET_MEAN, std=IMAGENET_STD)


@dataclass(frozen=True)
class AMNetConfig(ModelConfig):
    architecture = "amnet"

    trunk: str = arg("resnet50", "frame trunk cut after layer3 (resnet50, small, resmem, torchvision:<arch>)")
    width: int = arg(16, "channels of the 'small' trunk (other trunks ignore it)")
    size: int = arg(224, "frames stretched to size x size (sets the attention grid)")
    attn_dim: int = arg(512, "annotation vector width (1024 for the released LaMem weights)")
    hidden: int = arg(1024, "LSTM hidden width")
    steps: int = arg(3, "attention steps (one output step_k each)")
    target_mean: float = arg(0.754, "memorability = step output / target_scale + target_mean (LaMem)")
    target_scale: float = arg(2.0, "see target_mean")
    train_trunk: bool = arg(False, "fine-tune the trunk too (frozen in the released training)")
    num_frames: int = arg(7, "keyframes per video, each scored alone", input=True)


class AMNetCore(nn.Module):
    """The attention network on a trunk's ``(N, C, g, g)`` map (layer names as released)."""

    def __init__(self, in_channels: int, locations: int, attn_dim: int = 512, hidden: int = 1024) -> None:
        super().__init__()
        self.locations = locations
        self.inconv = nn.Conv2d(in_channels, attn_dim, 1)
        self.bn1 = nn.BatchNorm2d(attn_dim)
        self.hs1 = nn.Linear(attn_dim, hidden)
        self.hc1 = nn.Linear(attn_dim, hidden)
        self.e1 = nn.Linear(attn_dim, attn_dim, bias=False)
        self.eh1 = nn.Linear(hidden, locations)
        self.eh3 = nn.Linear(attn_dim, 1, bias=False)
        self.rnn = nn.LSTMCell(attn_dim, hidden)
        self.regnet1 = nn.Linear(hidden, 512)
        self.regnet4 = nn.Linear(512, 1)
        self.drop50 = nn.Dropout(0.5)
        self.drop80 = nn.Dropout(0.8)

    def annotate(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, C, g, g)`` -> annotation vectors ``a`` and their projections ``e``, both ``(N, L, D)``."""
        x = self.drop80(F.relu(self.bn1(self.inconv(maps))))
        a = x.flatten(2).transpose(1, 2)
        return a, self.drop50(F.relu(self.e1(a)))

    def init_state(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = a.mean(dim=tuple(range(1, a.dim() - 1)))
        return torch.tanh(self.hs1(mean)), torch.tanh(self.hc1(mean))

    def attend(self, e: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Softmax attention over the L locations, ``(N, L)``."""
        logits = self.drop50(F.relu(e + self.eh1(h).unsqueeze(2)))
        return torch.softmax(self.eh3(logits).squeeze(2), dim=1)

    def step(
        self, a: torch.Tensor, alpha: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One LSTM step on the attended context: (step output, dropped-out h, new state)."""
        z = torch.bmm(alpha.unsqueeze(1), a).squeeze(1)
        h, c = self.rnn(z, state)
        h_out = self.drop50(h)
        out = self.regnet4(self.drop50(F.relu(self.regnet1(h_out)))).squeeze(1)
        return out, h_out, (h, c)

    def forward(self, maps: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, C, g, g)`` -> raw step outputs ``(N, S)`` and attention ``(N, S, L)``."""
        a, e = self.annotate(maps)
        state = self.init_state(a)
        h = state[0]
        outs, alphas = [], []
        for _ in range(steps):  # fixed count: unrolled by tracing
            alpha = self.attend(e, h)
            out, h, state = self.step(a, alpha, state)
            outs.append(out)
            alphas.append(alpha)
        return torch.stack(outs, 1), torch.stack(alphas, 1)


class AMNet(nn.Module):
    """Frames ``(N, 3, H, W)`` -> ``score`` and ``step_k`` per frame; :meth:`explain` adds the maps."""

    def __init__(self, cfg: AMNetConfig, backbone_weights: str | None = None) -> None:
        super().__init__()
        self.steps = cfg.steps
        self.grid = grid_size(cfg.size)
        self.target_mean = cfg.target_mean
        self.target_scale = cfg.target_scale
        self.trunk = build_frame_trunk(cfg.trunk, cfg.width, frozen=not cfg.train_trunk)
        if backbone_weights:
            load_weights(self.trunk.body, backbone_weights)
        channels = frame_trunk_channels(cfg.trunk, cfg.width)
        self.core = AMNetCore(channels, self.grid * self.grid, cfg.attn_dim, cfg.hidden)

    def attend(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step scores on the memorability scale ``(N, S)`` and attention maps ``(N, S, g, g)``."""
        raw, alphas = self.core(self.trunk(frames), self.steps)
        scores = raw / self.target_scale + self.target_mean
        return scores, alphas.unflatten(2, (self.grid, self.grid))

    def explain(self, frames: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        scores, maps = self.attend(frames)
        outputs = {"score": scores.mean(1)}
        outputs |= {f"step_{k + 1}": scores[:, k] for k in range(self.steps)}
        return outputs, {f"step_{k + 1}": maps[:, k] for k in range(self.steps)}

    def attention(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named attention maps, ``(N, g, g)`` each, softmax weights over the grid."""
        return self.explain(frames)[1]

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.explain(frames)[0]


def attention_penalty(alphas: torch.Tensor, gamma: float = 1e-5, target: float = 0.2) -> torch.Tensor:
    """The released code's attention loss on maps ``(N, S, ...)``: ``gamma * sum_L (sum_S (target - alpha))^2 / N``."""
    flat = alphas.flatten(2)
    return gamma * ((target - flat).sum(1) ** 2).sum() / flat.shape[0]


def released_key(key: str) -> str | None:
    """A released AMNet checkpoint key -> this module's key (``None``: not part of AMNet)."""
    if key.startswith("core_cnn.core_cnn."):
        return "trunk.body." + key.removeprefix("core_cnn.core_cnn.")
    if key.startswith("rnn."):
        return "core." + key.removesuffix("_l0")
    if key.split(".")[0] in ("inconv", "bn1", "hs1", "hc1", "e1", "eh1", "eh3", "regnet1", "regnet4"):
        return "core." + key
    return None


def load_released_amnet(module: AMNet, path: str | Path) -> None:
    """Load a released AMNet checkpoint (``{'model': state_dict}``, read as tensors only).

    The released ResNet-50 LaMem model needs ``AMNetConfig(attn_dim=1024)``. Trunk tensors the
    released file lacks (its ``fc``) are not needed; every tensor of this module must be there.
    """
    load_weights(module, path, rename=released_key)


def amnet_spec(**args: Any) -> ModelSpec:
    cfg = AMNetConfig.from_args(args)
    steps, trunk = cfg.steps, cfg.trunk
    return ModelSpec(
        name="amnet",
        architecture="amnet",
        version="1",
        arch_args=cfg.arch_args(),
        inputs=(
            InputSpec(
                "frames", "keyframes", num_frames=cfg.num_frames, preprocess=frame_preprocess(trunk, cfg.size)
            ),
        ),
        outputs=(
            OutputSpec("score", "AMNet memorability of the frame (mean of the attention steps)"),
            *(OutputSpec(f"step_{k + 1}", f"score of attention step {k + 1}") for k in range(steps)),
        ),
        unit="frame",
        description="AMNet (ResNet-50 layer3 + LSTM soft attention, 3 steps), averaged over keyframes",
        metadata={
            "attention": [f"step_{k + 1}" for k in range(steps)],
            "head_losses": {"score": "mse"},  # the released training: MSE on the mean of the steps
            "pretrained": {"trunk": pretrained_source(trunk)},
        },
    )


@register_model(
    "amnet", spec=amnet_spec, config=AMNetConfig, paper="Fajtl et al., AMNet, CVPR 2018", recipe="video"
)
def build_amnet(backbone_weights: str | None = None, **arch_args: Any) -> nn.Module:
    """``backbone_weights``: a torchvision ResNet-50 file for the trunk (not stored in the bundle)."""
    return AMNet(AMNetConfig.from_arch_args(arch_args), backbone_weights=backbone_weights)
