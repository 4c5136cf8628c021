"""``amnetvid`` (AMNet maps -> ConvLSTM over frames) and its baselines ``amnet-mean``, ``amnet-rnn``.

Totev, MediaEval 2018 (the seed note of issue 9; no code was published and the note is
not in this repository): each frame goes through AMNet (:mod:`memo.models.amnet`, Fajtl et
al., CVPR 2018); its three attention maps, drawn on black, make a 9-channel image, which
with AMNet's score feeds a ConvLSTM over the sequence of frames and a regression head.
Its baselines: **AMNet mean** (AMNet's frame scores averaged over the video) and
**AMNet RNN** (an LSTM over the sequence of AMNet frame scores). Short-term and long-term
memorability are trained as separate models (one bundle per target; the output is
``score`` either way).

From the note: the 9-channel stack of the three maps drawn on black, AMNet's score as an
extra input, a ConvLSTM over frames, a regression head, the two baselines. Inferred:

* "drawn on black" is AMNet's own drawing (``get_attention_maps`` of the released code):
  each map min-max normalised, resized, coloured with OpenCV's JET colormap and blended
  50 % with the image, here a black one, so each map gives 3 channels in [0, 0.5]. We
  resize bilinearly to ``map_size`` (default 56; the released drawing uses 224 and bicubic)
  and implement JET as its piecewise-linear formula, so the drawing is part of the graph.
* AMNet's frame score enters as a constant 10th plane of the ConvLSTM input.
* ConvLSTM: one layer, ``hidden`` channels (32), 3 x 3 kernel, zero initial state; the
  head is global average pooling of the last hidden state and a linear layer whose bias
  starts at the target mean. The RNN baseline: a one-layer LSTM (hidden 16) over the
  frame scores, standardised first by a one-channel BatchNorm (AMNet's scores sit in a
  narrow band), linear head on the last hidden state.
* AMNet inside ``amnetvid`` and ``amnet-rnn`` is frozen by default (``freeze_amnet``): the
  note uses a pretrained AMNet's maps and scores as inputs. ``amnet-mean`` fine-tunes
  AMNet's attention network by default (its trunk stays frozen), since it has nothing else
  to train; with ``freeze_amnet=True`` it is the untrained-on-video baseline.
* weights (builder arguments, not stored in the bundle config): ``backbone_weights`` for
  AMNet's trunk, ``amnet_weights`` for a released AMNet checkpoint (the LaMem model needs
  ``amnet={"attn_dim": 1024}``), both read as tensors only.
* frames are the ``keyframes`` stream (``num_frames`` spread over the video, default 7).

ONNX: AMNet's 3 steps and the ConvLSTM/LSTM over the ``num_frames`` frames are Python
loops of fixed length, unrolled by tracing into a static graph (dynamic batch only).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from memo.models.amnet import AMNet, AMNetConfig, frame_preprocess, load_released_amnet
from memo.models.config import ModelConfig, arg
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec
from memo.models.trunks import pretrained_source

_AMNET_HELP = "the frame AMNet's arguments (amnet's, e.g. {\"attn_dim\": 1024} for the LaMem weights)"


@dataclass(frozen=True)
class AMNetVidConfig(ModelConfig):
    architecture = "amnetvid"

    num_frames: int = arg(7, "keyframes per video (the ConvLSTM runs over them)", input=True)
    amnet: AMNetConfig = arg(AMNetConfig(), _AMNET_HELP)
    freeze_amnet: bool = arg(True, "keep AMNet frozen (the note uses a pretrained AMNet's maps and scores)")
    map_size: int = arg(56, "attention maps drawn at map_size x map_size")
    hidden: int = arg(32, "ConvLSTM hidden channels")
    kernel: int = arg(3, "ConvLSTM kernel size")
    mean: float = arg(0.8, "the head's initial bias (the target mean)")


@dataclass(frozen=True)
class AMNetMeanConfig(ModelConfig):
    architecture = "amnet-mean"

    num_frames: int = arg(7, "keyframes per video (their AMNet scores averaged)", input=True)
    amnet: AMNetConfig = arg(AMNetConfig(), _AMNET_HELP)
    freeze_amnet: bool = arg(False, "keep AMNet frozen (default: fine-tune its attention network)")


@dataclass(frozen=True)
class AMNetRNNConfig(ModelConfig):
    architecture = "amnet-rnn"

    num_frames: int = arg(7, "keyframes per video (the LSTM runs over their AMNet scores)", input=True)
    amnet: AMNetConfig = arg(AMNetConfig(), _AMNET_HELP)
    freeze_amnet: bool = arg(True, "keep AMNet frozen")
    hidden: int = arg(16, "LSTM hidden width")
    mean: float = arg(0.8, "the head's initial bias (the target mean)")


def jet(x: torch.Tensor) -> torch.Tensor:
    """OpenCV's JET colormap on values in [0, 1]: ``(...)`` -> ``(..., 3)`` RGB in [0, 1]."""
    channels = [(1.5 - (4 * x - shift).abs()).clamp(0, 1) for shift in (3.0, 2.0, 1.0)]
    return torch.stack(channels, -1)


def draw_on_black(maps: torch.Tensor, size: int) -> torch.Tensor:
    """Attention maps ``(N, S, g, g)`` -> ``(N, 3 S, size, size)``: each normalised, JET-coloured, 50 % on black."""
    flat = maps.flatten(2)
    low = flat.amin(2, keepdim=True)
    high = flat.amax(2, keepdim=True)
    norm = ((flat - low) / (high - low + 1e-6)).view_as(maps)
    big = F.interpolate(norm, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    rgb = 0.5 * jet(big)  # (N, S, size, size, 3)
    return rgb.permute(0, 1, 4, 2, 3).flatten(1, 2)


class ConvLSTMCell(nn.Module):
    """Shi et al. 2015's ConvLSTM cell (without peepholes): all four gates from one conv."""

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def _amnet(cfg: AMNetConfig, freeze: bool, backbone_weights: str | None, amnet_weights: str | None) -> AMNet:
    """AMNet from its config; trunk weights and a released AMNet checkpoint from files if given."""
    amnet = AMNet(cfg, backbone_weights=backbone_weights)
    if amnet_weights:
        load_released_amnet(amnet, amnet_weights)
    if freeze:
        for param in amnet.parameters():
            param.requires_grad_(False)
    return amnet


class _FrameScores(nn.Module, abc.ABC):
    """Shared: run AMNet on ``(B, T, 3, H, W)``, keep it in eval mode while frozen."""

    def __init__(self, amnet: AMNetConfig, freeze_amnet: bool, weights: dict[str, str | None]) -> None:
        super().__init__()
        self.freeze_amnet = freeze_amnet
        self.amnet = _amnet(
            amnet, freeze_amnet, weights.get("backbone_weights"), weights.get("amnet_weights")
        )

    def train(self, mode: bool = True) -> _FrameScores:
        super().train(mode)
        if self.freeze_amnet:
            self.amnet.eval()
        return self

    def frame_attend(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame scores ``(B, T)`` and attention ``(B, T, S, g, g)``."""
        t = frames.shape[1]
        steps, maps = self.amnet.attend(frames.flatten(0, 1))
        return steps.mean(1).view(-1, t), maps.unflatten(0, (-1, t))

    def named_maps(self, maps: torch.Tensor) -> dict[str, torch.Tensor]:
        return {f"step_{k + 1}": maps[:, :, k] for k in range(maps.shape[2])}

    def attention(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """AMNet's maps per step, ``(B, T, g, g)`` each."""
        return self.explain(frames)[1]

    @abc.abstractmethod
    def explain(self, frames: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Named outputs ``(B,)`` and named attention maps ``(B, T, g, g)``."""

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.explain(frames)[0]


class AMNetVid(_FrameScores):
    def __init__(
        self, cfg: AMNetVidConfig, backbone_weights: str | None = None, amnet_weights: str | None = None
    ) -> None:
        super().__init__(
            cfg.amnet,
            cfg.freeze_amnet,
            {"backbone_weights": backbone_weights, "amnet_weights": amnet_weights},
        )
        self.map_size = cfg.map_size
        self.cell = ConvLSTMCell(3 * self.amnet.steps + 1, cfg.hidden, cfg.kernel)
        self.head = nn.Linear(cfg.hidden, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, cfg.mean)

    def explain(self, frames: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        b, t = frames.shape[:2]
        scores, maps = self.frame_attend(frames)
        drawn = draw_on_black(maps.flatten(0, 1), self.map_size).unflatten(0, (-1, t))
        plane = scores[:, :, None, None, None].expand(-1, -1, 1, self.map_size, self.map_size)
        x = torch.cat([drawn, plane], 2)
        h = x.new_zeros(b, self.cell.hidden, self.map_size, self.map_size)
        state = (h, h)
        for k in range(t):  # fixed num_frames: unrolled by tracing
            state = self.cell(x[:, k], state)
        score = self.head(state[0].mean((2, 3))).squeeze(1)
        return {"score": score, "amnet_mean": scores.mean(1)}, self.named_maps(maps)


class AMNetMean(_FrameScores):
    def __init__(
        self, cfg: AMNetMeanConfig, backbone_weights: str | None = None, amnet_weights: str | None = None
    ) -> None:
        super().__init__(
            cfg.amnet,
            cfg.freeze_amnet,
            {"backbone_weights": backbone_weights, "amnet_weights": amnet_weights},
        )

    def explain(self, frames: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        scores, maps = self.frame_attend(frames)
        return {"score": scores.mean(1)}, self.named_maps(maps)


class AMNetRNN(_FrameScores):
    def __init__(
        self, cfg: AMNetRNNConfig, backbone_weights: str | None = None, amnet_weights: str | None = None
    ) -> None:
        super().__init__(
            cfg.amnet,
            cfg.freeze_amnet,
            {"backbone_weights": backbone_weights, "amnet_weights": amnet_weights},
        )
        hidden, mean = cfg.hidden, cfg.mean
        # AMNet scores sit in a narrow band: standardise them (cumulative statistics: a frozen
        # AMNet gives stationary scores, and a decayed average of var 1 would take long to forget).
        self.norm = nn.BatchNorm1d(1, momentum=None)
        self.rnn = nn.LSTMCell(1, hidden)
        self.head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, mean)

    def explain(self, frames: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        scores, maps = self.frame_attend(frames)
        x = self.norm(scores.reshape(-1, 1)).view_as(scores)
        h = scores.new_zeros(scores.shape[0], self.rnn.hidden_size)
        state = (h, h)
        for k in range(scores.shape[1]):  # fixed num_frames: unrolled by tracing
            state = self.rnn(x[:, k : k + 1], state)
        score = self.head(state[0]).squeeze(1)
        return {"score": score, "amnet_mean": scores.mean(1)}, self.named_maps(maps)


VideoConfig = AMNetVidConfig | AMNetMeanConfig | AMNetRNNConfig


def _video_spec(name: str, description: str, outputs: tuple[OutputSpec, ...], cfg: VideoConfig) -> ModelSpec:
    trunk, size = cfg.amnet.trunk, cfg.amnet.size
    return ModelSpec(
        name=name,
        architecture=name,
        version="1",
        arch_args=cfg.arch_args(),
        inputs=(
            InputSpec(
                "frames", "keyframes", num_frames=cfg.num_frames, preprocess=frame_preprocess(trunk, size)
            ),
        ),
        outputs=outputs,
        unit="video",
        description=description,
        metadata={
            "attention": [f"step_{k + 1}" for k in range(cfg.amnet.steps)],
            "head_losses": {"score": "mse"},  # inferred; amnet_mean is informative, not trained
            "pretrained": {
                "amnet.trunk": pretrained_source(trunk),
                "amnet": "AMNet's attention network: load_released_amnet (released LaMem checkpoint) or train it",
            },
        },
    )


_AMNET_MEAN_OUT = OutputSpec("amnet_mean", "AMNet frame scores averaged over the keyframes")


def amnetvid_spec(**args: Any) -> ModelSpec:
    outputs = (OutputSpec("score", "predicted video memorability"), _AMNET_MEAN_OUT)
    desc = "AMNetVid: AMNet attention maps drawn on black + score per frame -> ConvLSTM -> regression"
    return _video_spec("amnetvid", desc, outputs, AMNetVidConfig.from_args(args))


def amnet_mean_spec(**args: Any) -> ModelSpec:
    outputs = (OutputSpec("score", "AMNet frame scores averaged over the keyframes"),)
    desc = "AMNet mean: frame-averaged AMNet score"
    return _video_spec("amnet-mean", desc, outputs, AMNetMeanConfig.from_args(args))


def amnet_rnn_spec(**args: Any) -> ModelSpec:
    outputs = (OutputSpec("score", "predicted video memorability"), _AMNET_MEAN_OUT)
    desc = "AMNet RNN: an LSTM over AMNet frame scores"
    return _video_spec("amnet-rnn", desc, outputs, AMNetRNNConfig.from_args(args))


_PAPER = "Totev, MediaEval 2018 (on AMNet, Fajtl et al., CVPR 2018)"


@register_model("amnetvid", spec=amnetvid_spec, config=AMNetVidConfig, paper=_PAPER, recipe="video")
def build_amnetvid(
    backbone_weights: str | None = None, amnet_weights: str | None = None, **arch_args: Any
) -> nn.Module:
    return AMNetVid(AMNetVidConfig.from_arch_args(arch_args), backbone_weights, amnet_weights)


@register_model(
    "amnet-mean", spec=amnet_mean_spec, config=AMNetMeanConfig, paper=_PAPER + ", baseline", recipe="video"
)
def build_amnet_mean(
    backbone_weights: str | None = None, amnet_weights: str | None = None, **arch_args: Any
) -> nn.Module:
    return AMNetMean(AMNetMeanConfig.from_arch_args(arch_args), backbone_weights, amnet_weights)


@register_model(
    "amnet-rnn", spec=amnet_rnn_spec, config=AMNetRNNConfig, paper=_PAPER + ", baseline", recipe="video"
)
def build_amnet_rnn(
    backbone_weights: str | None = None, amnet_weights: str | None = None, **arch_args: Any
) -> nn.Module:
    return AMNetRNN(AMNetRNNConfig.from_arch_args(arch_args), backbone_weights, amnet_weights)
