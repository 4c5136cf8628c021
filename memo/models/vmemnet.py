"""``vmemnet``: VMemNet, a collaborative spatial-temporal network for video memorability.

Lu et al., "VMemNet: A Deep Collaborative Spatial-Temporal Network With Attention
Representation for Video Memorability Prediction", IEEE Transactions on Multimedia 2023
(8-fold VideoMem, 0.529 mean Spearman). Only test code was released
(github.com/accelerate20000/VMemNet, ``test.py``); its checkpoints pickle whole modules,
so the layers themselves are not published.

Known from the released test code and the paper's abstract:

* 7 keyframes per video (frames 0, 24, ..., 144), ImageNet-normalised, through a frame
  ``encoder`` returning a 1024-channel map per frame (``encoded_frames_1024``);
* a **spatial attention** module on those maps returning a score and its attention maps
  (``spatial_att_out, beta_out = spatial_att(encoded_frames_1024)``);
* a **fusion** of the maps with a clip-level "dynamic" vector (``fusion(encoded_frames_1024,
  feature_vector)``; the vectors are precomputed files in the release);
* a **semantic-guided attention** module on the fused maps giving a score;
* prediction ``0.6 * semantic + 0.4 * spatial``; each head is trained with its own loss
  ("two types of loss functions with complementary decision rules").

Inferred (not published), all configurable:

* encoder: torchvision ResNet-50 cut after ``layer3`` (1024 channels; the issue's choice),
  frozen by default, frames stretched to 224 x 224 (the release feeds 360 x 640 frames);
* spatial attention: AMNet's soft-attention LSTM (:class:`memo.models.amnet.AMNetCore`)
  iterated over the 7 frames, one step per frame attending over that frame's grid; the
  spatial score is the mean of the step outputs plus ``mean``;
* dynamic vector: by default a 3D CNN over a ``clip`` input (torchvision ``r3d_18``, 16
  frames at 8 fps, 112 x 112, Kinetics normalisation; ``small`` for tests), or
  ``dynamic="features"``: a precomputed vector of ``dynamic_dim`` floats (the release's
  files; their dimension is not documented, so it must be given);
* fusion: the maps projected by a 1 x 1 conv to ``fused_dim`` and modulated channel-wise
  by the projected dynamic vector, ``m * (1 + tanh(W_g d))`` (FiLM-like);
* semantic-guided attention: additive attention over all frames and locations with the
  dynamic vector as query, ``softmax_{t,l}(w · tanh(W_f f_{t,l} + W_q d))``; the attended
  fused vector concatenated with ``d`` goes through a 2-layer MLP to the semantic score;
* default loss pair (spec metadata ``head_losses``, for the trainer): ``mse`` on
  ``semantic`` (the 0.6-weighted head, kept on the memorability scale) and the pairwise
  ``ranking`` loss on ``spatial``.

Outputs: ``score``, ``semantic``, ``spatial`` (each ``(B,)``). :meth:`VMemNet.attention`
returns ``spatial`` and ``semantic`` maps ``(B, T, g, g)``; they are not graph outputs.
ONNX: the spatial LSTM runs exactly ``num_frames`` steps in a fixed Python loop that
tracing unrolls into a static graph; only the batch axis is dynamic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from memo.errors import BundleError
from memo.models.amnet import AMNetCore, frame_preprocess
from memo.models.config import ModelConfig, arg
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess
from memo.models.trunks import (
    KINETICS_MEAN,
    KINETICS_STD,
    build_clip_trunk,
    build_frame_trunk,
    grid_size,
    pretrained_source,
)
from memo.models.weights import load_weights

HEAD_WEIGHTS = {"semantic": 0.6, "spatial": 0.4}
HEAD_LOSSES = {"semantic": "mse", "spatial": "ranking"}


@dataclass(frozen=True)
class VMemNetConfig(ModelConfig):
    architecture = "vmemnet"

    num_frames: int = arg(7, "keyframes per video (the spatial LSTM runs one step per frame)", input=True)
    size: int = arg(224, "keyframes stretched to size x size (sets the attention grid)")
    trunk: str = arg(
        "resnet50", "frame encoder cut after layer3 (resnet50, small, resmem, torchvision:<arch>)"
    )
    width: int = arg(16, "channels of the 'small' frame trunk (other trunks ignore it)")
    train_trunk: bool = arg(False, "fine-tune the frame encoder")
    dynamic: Literal["clip", "features"] = arg(
        "clip", "the dynamic vector: a 3D CNN on a clip, or precomputed"
    )
    clip_trunk: str = arg("r3d_18", "3D CNN of the clip input (r3d_18, r2plus1d_18, small)")
    clip_width: int = arg(16, "channels of the 'small' clip trunk (other trunks ignore it)")
    train_clip_trunk: bool = arg(True, "fine-tune the clip trunk")
    clip_frames: int = arg(16, "frames of the clip input", input=True)
    clip_fps: float = arg(8.0, "frame rate of the clip input", input=True)
    clip_size: int = arg(112, "crop size of the clip input", input=True)
    dynamic_dim: int | None = arg(None, "width of the precomputed dynamic vector (dynamic=features)")
    attn_dim: int = arg(512, "attention width (both heads)")
    hidden: int = arg(512, "LSTM hidden width of the spatial head")
    fused_dim: int = arg(512, "width of the fused maps")
    mean: float = arg(0.8, "the heads' initial output (the target mean)")
    head_weights: dict[str, float] | None = arg(
        None, "score = sum of weight * head (default 0.6 semantic, 0.4 spatial)"
    )
    head_losses: dict[str, str] | None = arg(
        None, "training loss per head (default: mse on semantic, ranking on spatial)", input=True
    )


class SpatialAttention(nn.Module):
    """AMNet's attention LSTM, one step per frame: maps ``(B, T, L, D)`` -> score, maps ``(B, T, L)``."""

    def __init__(self, channels: int, locations: int, attn_dim: int, hidden: int, mean: float) -> None:
        super().__init__()
        self.core = AMNetCore(channels, locations, attn_dim, hidden)
        self.mean = mean

    def forward(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = maps.shape[1]
        a, e = self.core.annotate(maps.flatten(0, 1))
        a, e = a.unflatten(0, (-1, t)), e.unflatten(0, (-1, t))
        state = self.core.init_state(a)
        h = state[0]
        outs, alphas = [], []
        for k in range(t):  # fixed num_frames: unrolled by tracing
            alpha = self.core.attend(e[:, k], h)
            out, h, state = self.core.step(a[:, k], alpha, state)
            outs.append(out)
            alphas.append(alpha)
        return torch.stack(outs, 1).mean(1) + self.mean, torch.stack(alphas, 1)


class Fusion(nn.Module):
    """Encoder maps ``(B, T, C, g, g)`` and dynamic vector ``(B, K)`` -> fused ``(B, T, L, F)``, ``d (B, F)``."""

    def __init__(self, channels: int, dynamic_dim: int, fused_dim: int) -> None:
        super().__init__()
        self.maps = nn.Sequential(nn.Conv2d(channels, fused_dim, 1), nn.BatchNorm2d(fused_dim), nn.ReLU())
        self.dynamic = nn.Sequential(nn.LayerNorm(dynamic_dim), nn.Linear(dynamic_dim, fused_dim), nn.ReLU())
        self.gate = nn.Linear(fused_dim, fused_dim)

    def forward(self, maps: torch.Tensor, dynamic: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = maps.shape[1]
        m = self.maps(maps.flatten(0, 1)).flatten(2).transpose(1, 2).unflatten(0, (-1, t))
        d = self.dynamic(dynamic)
        return m * (1 + torch.tanh(self.gate(d)))[:, None, None, :], d


class SemanticAttention(nn.Module):
    """Dynamic-vector-guided attention over all frames and locations -> score, maps ``(B, T, L)``."""

    def __init__(self, fused_dim: int, attn_dim: int, mean: float, dropout: float = 0.5) -> None:
        super().__init__()
        self.key = nn.Linear(fused_dim, attn_dim)
        self.query = nn.Linear(fused_dim, attn_dim)
        self.score = nn.Linear(attn_dim, 1, bias=False)
        self.head = nn.Sequential(
            nn.Linear(2 * fused_dim, fused_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(fused_dim, 1)
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.constant_(self.head[-1].bias, mean)

    def forward(self, fused: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, locations = fused.shape[1:3]
        logits = self.score(torch.tanh(self.key(fused) + self.query(d)[:, None, None, :])).flatten(1)
        alpha = torch.softmax(logits, dim=1)
        z = torch.bmm(alpha.unsqueeze(1), fused.flatten(1, 2)).squeeze(1)
        return self.head(torch.cat([z, d], 1)).squeeze(1), alpha.view(-1, t, locations)


class VMemNet(nn.Module):
    def __init__(
        self, cfg: VMemNetConfig, backbone_weights: str | None = None, clip_weights: str | None = None
    ) -> None:
        super().__init__()
        self.grid = grid_size(cfg.size)
        self.head_weights = dict(cfg.head_weights or HEAD_WEIGHTS)
        self.encoder = build_frame_trunk(cfg.trunk, cfg.width, frozen=not cfg.train_trunk)
        if backbone_weights:
            load_weights(self.encoder.body, backbone_weights)
        self.clip_encoder = None
        dynamic_dim = cfg.dynamic_dim
        if cfg.dynamic == "clip":
            self.clip_encoder = build_clip_trunk(
                cfg.clip_trunk, cfg.clip_width, frozen=not cfg.train_clip_trunk
            )
            if clip_weights:
                load_weights(self.clip_encoder.body, clip_weights)
            dynamic_dim = self.clip_encoder.out_channels
        elif not dynamic_dim:
            raise ValueError("dynamic='features' needs dynamic_dim")
        attn_dim, fused_dim, mean = cfg.attn_dim, cfg.fused_dim, cfg.mean
        channels = self.encoder.out_channels
        self.spatial = SpatialAttention(channels, self.grid * self.grid, attn_dim, cfg.hidden, mean)
        self.fusion = Fusion(channels, int(dynamic_dim), fused_dim)
        self.semantic = SemanticAttention(fused_dim, attn_dim, mean)

    def explain(
        self, frames: torch.Tensor, dynamic: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        t = frames.shape[1]
        maps = self.encoder(frames.flatten(0, 1)).unflatten(0, (-1, t))
        vector = self.clip_encoder(dynamic) if self.clip_encoder is not None else dynamic.float()
        spatial, spatial_maps = self.spatial(maps)
        semantic, semantic_maps = self.semantic(*self.fusion(maps, vector))
        w = self.head_weights
        score = w["semantic"] * semantic + w["spatial"] * spatial
        grid = (self.grid, self.grid)
        named = {"spatial": spatial_maps.unflatten(2, grid), "semantic": semantic_maps.unflatten(2, grid)}
        return {"score": score, "semantic": semantic, "spatial": spatial}, named

    def attention(self, frames: torch.Tensor, dynamic: torch.Tensor) -> dict[str, torch.Tensor]:
        """``spatial`` and ``semantic`` attention maps, ``(B, T, g, g)`` each."""
        return self.explain(frames, dynamic)[1]

    def forward(self, frames: torch.Tensor, dynamic: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.explain(frames, dynamic)[0]


def vmemnet_spec(**args: Any) -> ModelSpec:
    cfg = VMemNetConfig.from_args(args)
    if cfg.dynamic == "features" and not cfg.dynamic_dim:
        raise BundleError(
            "vmemnet: dynamic=features needs dynamic_dim (the width of the precomputed vectors)"
        )
    frames = InputSpec(
        "frames", "keyframes", num_frames=cfg.num_frames, preprocess=frame_preprocess(cfg.trunk, cfg.size)
    )
    if cfg.dynamic == "clip":
        side = (cfg.clip_size * 8 // 7,)  # 128 for 112: torchvision's video-model resize before the crop
        crop = (cfg.clip_size, cfg.clip_size)
        pre = Preprocess(resize=side, crop=crop, mean=KINETICS_MEAN, std=KINETICS_STD)
        second = InputSpec("dynamic", "clip", num_frames=cfg.clip_frames, fps=cfg.clip_fps, preprocess=pre)
    else:
        second = InputSpec("dynamic", "features", dim=cfg.dynamic_dim, encoder="dynamic-vector")
    weights = dict(cfg.head_weights or HEAD_WEIGHTS)
    return ModelSpec(
        name="vmemnet",
        architecture="vmemnet",
        version="1",
        arch_args=cfg.arch_args(),
        inputs=(frames, second),
        outputs=(
            OutputSpec("score", f"{weights['semantic']} * semantic + {weights['spatial']} * spatial"),
            OutputSpec("semantic", "score of the semantic-guided attention head"),
            OutputSpec("spatial", "score of the spatial attention head"),
        ),
        unit="video",
        description="VMemNet: spatial attention + semantic-guided attention over keyframes and a dynamic clip vector",
        metadata={
            "attention": ["spatial", "semantic"],
            "head_losses": dict(cfg.head_losses or HEAD_LOSSES),
            "head_weights": weights,
            "pretrained": {
                "encoder": pretrained_source(cfg.trunk),
                "clip_encoder": pretrained_source(cfg.clip_trunk, "clip_weights", "Kinetics-400")
                if cfg.dynamic == "clip"
                else "none (precomputed dynamic vectors)",
            },
        },
    )


@register_model(
    "vmemnet",
    spec=vmemnet_spec,
    config=VMemNetConfig,
    paper="Lu et al., VMemNet, IEEE TMM 2023",
    recipe="video",
)
def build_vmemnet(
    backbone_weights: str | None = None, clip_weights: str | None = None, **arch_args: Any
) -> nn.Module:
    return VMemNet(VMemNetConfig.from_arch_args(arch_args), backbone_weights, clip_weights)
