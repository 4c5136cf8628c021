"""``cnn-transformer``: the CNN + Transformer of "Seeing Eye to AI".

"Seeing Eye to AI: Comparing Human Gaze and Model Attention in Video Memorability", WACV
2025, arXiv 2311.16484 (cited in memo's issue as Khandelwal et al.; 0.706 Spearman on
Memento10k validation).
Per frame, a CNN's spatial feature map; each spatial position (a "patch") is projected
linearly to d = 768; a learned temporal position embedding (one per frame, 5 frames) is
added; a CLS token is prepended; a 2-layer Transformer encoder with 8 heads; an MLP head
with a sigmoid on the CLS token. Attention rollout (Abnar & Zuidema, ACL 2020) over the
two layers gives a spatio-temporal map ``(T, h, w)`` of where the CLS token looked.

From the paper (as summarised in memo's issue): everything in the sentence above.
Inferred: the CNN (ResNet-50 to layer4, 2048 x 7 x 7 at 224 px, ImageNet weights loadable
from a local file), the 5 frames spread evenly over the video (the ``keyframes`` stream),
no spatial position embedding by default (only the temporal one is described; then a
token's location reaches the model only through the CNN's zero padding near the borders;
``spatial_pos=True`` adds a learned one per grid cell, shared by the frames: in a tiny
experiment both settings learned to tell a moving square's direction, see docs/models.md),
the encoder layer as PyTorch's ``nn.TransformerEncoderLayer`` defaults (post-norm, feed-forward 2048, ReLU,
dropout 0.1), a final LayerNorm on the CLS token, the head's hidden width (256) and the
MSE loss / learning rate of :data:`RECIPE`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from memo.models.attention import EncoderLayer, attention_rollout
from memo.models.config import ModelConfig, arg
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec
from memo.models.stages import Stage, StagedModel, recipe_json
from memo.models.trunks import ResNetTrunk, imagenet_preprocess
from memo.models.weights import LoadReport, load_weights

RECIPE = (Stage("train", "all", "mse", None, 1e-4, "single stage (loss and rate inferred)"),)


@dataclass(frozen=True)
class CNNTransformerConfig(ModelConfig):
    architecture = "cnn-transformer"

    trunk: str = arg("resnet50", "torchvision ResNet trunk (resnet18 ... resnet152), to layer4")
    width: int = arg(64, "channels of the trunk's stem (64: torchvision's)")
    layers: tuple[int, ...] | None = arg(None, "residual blocks per stage (None: the trunk's own)")
    num_frames: int = arg(5, "keyframes per video (one learned time embedding each)")
    size: int = arg(224, "frames resized and centre-cropped to size x size (sets the patch grid)")
    spatial_pos: bool = arg(False, "add a learned position embedding per grid cell")
    dim: int = arg(768, "token width of the transformer")
    heads: int = arg(8, "attention heads")
    depth: int = arg(2, "transformer encoder layers")
    ff: int = arg(2048, "feed-forward width of each layer")
    hidden: int = arg(256, "hidden width of the MLP head")
    outputs: tuple[str, ...] = arg(("score",), "one sigmoid output per name")
    dropout: float = arg(0.1, "dropout in the transformer and the head (training only)")


def cnn_transformer_spec(**args: Any) -> ModelSpec:
    cfg = CNNTransformerConfig.from_args(args)
    trunk, num_frames, outputs = cfg.trunk, cfg.num_frames, cfg.outputs
    return ModelSpec(
        name="cnn-transformer",
        architecture="cnn-transformer",
        arch_args=cfg.arch_args(),
        inputs=(
            InputSpec(
                name="frames",
                stream="keyframes",
                num_frames=num_frames,
                preprocess=imagenet_preprocess(cfg.size),
            ),
        ),
        outputs=tuple(
            OutputSpec(o, f"predicted {o.replace('_', '-')} memorability, in [0, 1]") for o in outputs
        ),
        unit="video",
        description=f"CNN + Transformer over {num_frames} frames' patch features (Seeing Eye to AI)",
        metadata={
            "recipe": recipe_json(RECIPE),
            "attention": ["rollout"],
            "head_losses": {o: RECIPE[-1].loss for o in outputs},
            "pretrained": f"trunk: ImageNet {trunk} from a local file (load_backbone); transformer and head: new",
        },
    )


class CNNTransformer(StagedModel):
    head_modules = ("embed", "blocks", "norm", "head")

    def __init__(self, cfg: CNNTransformerConfig) -> None:
        super().__init__()
        dim = cfg.dim
        self.num_frames = cfg.num_frames
        self.outputs = list(cfg.outputs)
        self.trunk = ResNetTrunk(cfg.trunk, cfg.width, cfg.layers)
        self.embed = nn.Linear(self.trunk.out_channels, dim)
        self.time_pos = nn.Parameter(torch.zeros(1, cfg.num_frames, 1, dim))
        self.space_pos: nn.Parameter | None = None
        if cfg.spatial_pos:
            self.space_pos = nn.Parameter(torch.zeros(1, 1, self.trunk.grid(cfg.size) ** 2, dim))
            nn.init.trunc_normal_(self.space_pos, std=0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.time_pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)
        self.blocks = nn.ModuleList(
            EncoderLayer(dim, cfg.heads, cfg.ff, cfg.dropout) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Sequential(
            nn.Linear(dim, cfg.hidden),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, len(self.outputs)),
        )

    def head_parameters(self) -> Iterator[nn.Parameter]:
        yield from super().head_parameters()
        yield from (self.time_pos, self.cls)
        if self.space_pos is not None:
            yield self.space_pos

    def load_backbone(self, path: str | os.PathLike[str]) -> LoadReport:
        """Trunk weights from a torchvision ResNet checkpoint file of the same depth."""
        return load_weights(self.trunk, path)

    def tokens(self, frames: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """``(B, T, 3, H, W)`` -> ``(B, 1 + T*h*w, dim)`` tokens (CLS first) and the grid ``(h, w)``."""
        fmap = self.trunk(frames.flatten(0, 1))  # (B*T, C, h, w)
        grid = (int(fmap.shape[2]), int(fmap.shape[3]))
        patches = self.embed(fmap.flatten(2).transpose(1, 2))  # (B*T, h*w, dim)
        patches = patches.unflatten(0, (-1, self.num_frames)) + self.time_pos  # (B, T, h*w, dim)
        if self.space_pos is not None:
            patches = patches + self.space_pos
        patches = patches.flatten(1, 2)
        # CLS prepended as "zero token in front + (CLS, 0, ..., 0)": no expand(B, ...), whose
        # traced batch size would be frozen into the exported graph.
        tokens = F.pad(patches, (0, 0, 1, 0))
        return tokens + F.pad(self.cls, (0, 0, 0, patches.shape[1])), grid

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], tuple[int, int]]:
        x, grid = self.tokens(frames)
        weights = []
        for block in self.blocks:
            x, w = block(x)
            weights.append(w)
        return self.norm(x[:, 0]), weights, grid

    def explain(self, frames: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Outputs and ``rollout``: attention rollout from the CLS token to every patch,
        ``(B, T, h, w)`` (sums to less than 1: the rest stays on the CLS token)."""
        cls, weights, (h, w) = self.encode(frames)
        scores = torch.sigmoid(self.head(cls))
        rollout = attention_rollout(weights)[:, 0, 1:].unflatten(1, (self.num_frames, h, w))
        return {name: scores[:, i] for i, name in enumerate(self.outputs)}, {"rollout": rollout}

    def attention(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.explain(frames)[1]

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        scores = torch.sigmoid(self.head(self.encode(frames)[0]))
        return {name: scores[:, i] for i, name in enumerate(self.outputs)}


@register_model(
    "cnn-transformer",
    spec=cnn_transformer_spec,
    config=CNNTransformerConfig,
    paper="'Seeing Eye to AI', WACV 2025 (arXiv 2311.16484); rollout: Abnar & Zuidema, ACL 2020",
    recipe="video",
)
def build_cnn_transformer(backbone_weights: str | None = None, **arch_args: Any) -> nn.Module:
    """``backbone_weights``: a torchvision ResNet file for the trunk (not stored in the bundle)."""
    model = CNNTransformer(CNNTransformerConfig.from_arch_args(arch_args))
    if backbone_weights:
        model.load_backbone(backbone_weights)
    return model
