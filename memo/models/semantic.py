"""``semantic-embedding``: the VideoMem paper's semantic embedding model, with attention.

Cohendet et al., "VideoMem: Constructing, Analyzing, Predicting Short-term and Long-term
Video Memorability", ICCV 2019. Each of 7 keyframes goes through the image side of a
visual-semantic embedding (an image-captioning model's joint image/text space); a
2-layer MLP regresses memorability from the embedding; the video's score is the mean of
its frames' scores. The variant with attention adds a branch: a 1x1 convolution parallel
to the last convolutional layer, a softmax over space, and the resulting map multiplies
the feature map before pooling, so each frame yields an attention map. The paper trains
with an L1 loss first, then with a ranking loss (:data:`RECIPE`).

From the paper (as summarised in memo's issue): the pipeline frame -> embedding -> 2-layer
MLP -> mean over 7 frames, the attention branch's shape, the L1-then-ranking schedule.
Inferred, because no code was published: the embedding network. The paper used a
pretrained image-captioning embedding (to our knowledge Engilberge et al., "Finding beans
in burgers", CVPR 2018: a ResNet-152 and a projection into a 2400-d joint space); here it
is a torchvision ResNet trunk (default ResNet-152, ImageNet weights loadable from a local
file) + a linear projection to ``embed_dim`` (2400) + L2 normalisation, with the pooling
replaced by the mean (or, with attention, the attention-weighted sum) of the last map.
Also inferred: "parallel to the last conv layer" read as a 1x1 conv on the *input* of the
trunk's last residual block with that block's stride (so on its output's grid), the MLP's hidden width (512) and
dropout, the sigmoid output, and the stage lengths / learning rates of :data:`RECIPE`.
A captioning model's weights can be loaded into ``trunk`` + ``project`` where they exist
as tensors; none ship with memo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from memo.models.config import ModelConfig, arg
from memo.models.registry import register_model
from memo.models.spec import InputSpec, ModelSpec, OutputSpec
from memo.models.stages import Stage, StagedModel, recipe_json
from memo.models.trunks import ResNetTrunk, imagenet_preprocess
from memo.models.weights import LoadReport, load_weights

RECIPE = (
    Stage("l1-warm-up", "all", "l1", 2, 1e-4, "L1 warm-up, as the paper describes (epochs, lr inferred)"),
    Stage("ranking", "all", "ranking", None, 1e-4, "ranking loss, as the paper describes (lr inferred)"),
)


@dataclass(frozen=True)
class SemanticConfig(ModelConfig):
    architecture = "semantic-embedding"

    trunk: str = arg("resnet152", "torchvision ResNet trunk (resnet18 ... resnet152)")
    width: int = arg(64, "channels of the trunk's stem (64: torchvision's)")
    layers: tuple[int, ...] | None = arg(None, "residual blocks per stage (None: the trunk's own)")
    num_frames: int = arg(7, "keyframes per video (the model averages over exactly this many)")
    size: int = arg(224, "frames resized and centre-cropped to size x size", input=True)
    embed_dim: int = arg(2400, "width of the visual-semantic embedding")
    hidden: int = arg(512, "hidden width of the 2-layer MLP")
    attention: bool = arg(True, "the attention branch (a 1x1 conv and a spatial softmax)")
    outputs: tuple[str, ...] = arg(("score",), "one sigmoid output per name")
    dropout: float = arg(0.2, "dropout in the MLP (training only)")


def semantic_spec(**args: Any) -> ModelSpec:
    cfg = SemanticConfig.from_args(args)
    trunk, num_frames, attention, outputs = cfg.trunk, cfg.num_frames, cfg.attention, cfg.outputs
    return ModelSpec(
        name="semantic-embedding",
        architecture="semantic-embedding",
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
        description="VideoMem paper's semantic embedding model"
        + (" with its attention branch" if attention else "")
        + f" ({num_frames} frames averaged)",
        metadata={
            "recipe": recipe_json(RECIPE),
            "attention": ["attention"] if attention else [],
            "head_losses": {o: RECIPE[-1].loss for o in outputs},
            "pretrained": f"trunk: ImageNet {trunk} from a local file (load_backbone); "
            "embedding projection, attention conv and MLP: new (no captioning weights ship with memo)",
        },
    )


class SemanticEmbedding(StagedModel):
    head_modules = ("attend", "project", "mlp")

    def __init__(self, cfg: SemanticConfig) -> None:
        super().__init__()
        self.num_frames = cfg.num_frames
        self.outputs = list(cfg.outputs)
        self.trunk = ResNetTrunk(cfg.trunk, cfg.width, cfg.layers)
        self.attend = (
            nn.Conv2d(self.trunk.last_in_channels, 1, kernel_size=1, stride=self.trunk.last_stride)
            if cfg.attention
            else nn.Identity()
        )
        self.use_attention = cfg.attention
        self.project = nn.Linear(self.trunk.out_channels, cfg.embed_dim)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.embed_dim, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, len(self.outputs)),
        )

    def load_backbone(self, path: str | os.PathLike[str]) -> LoadReport:
        """Trunk weights from a torchvision ResNet checkpoint file of the same depth."""
        return load_weights(self.trunk, path)

    def _frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(N, 3, H, W)`` -> per-frame scores ``(N, outputs)`` and attention ``(N, h, w)``."""
        before, fmap = self.trunk.split_last(frames)
        if self.use_attention:
            logits = self.attend(before).flatten(1)  # (N, h*w)
            weights = torch.softmax(logits, dim=1)
            pooled = (fmap.flatten(2) * weights.unsqueeze(1)).sum(2)  # the map, multiplied, summed
            att = weights.view(-1, fmap.shape[2], fmap.shape[3])
        else:
            pooled, att = fmap.mean((2, 3)), None
        embedding = F.normalize(self.project(pooled), dim=1)
        return torch.sigmoid(self.mlp(embedding)), att

    def frame_scores(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, T, 3, H, W)`` -> per-frame scores ``(B, T, outputs)`` and maps ``(B, T, h, w)``."""
        scores, att = self._frames(frames.flatten(0, 1))
        scores = scores.unflatten(0, (-1, self.num_frames))
        return scores, None if att is None else att.unflatten(0, (-1, self.num_frames))

    def explain(self, frames: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Outputs and named maps: ``attention``, each frame's spatial softmax ``(B, T, h, w)``
        (each map sums to 1; none without the attention branch). The per-frame scores are
        :meth:`frame_scores`."""
        scores, att = self.frame_scores(frames)
        outputs = {name: scores[:, :, i].mean(1) for i, name in enumerate(self.outputs)}
        return outputs, {} if att is None else {"attention": att}

    def attention(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.explain(frames)[1]

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        scores = self.frame_scores(frames)[0].mean(1)
        return {name: scores[:, i] for i, name in enumerate(self.outputs)}


@register_model(
    "semantic-embedding",
    spec=semantic_spec,
    config=SemanticConfig,
    paper="Cohendet et al., ICCV 2019 (VideoMem semantic embedding model + attention)",
    recipe="video",
)
def build_semantic(backbone_weights: str | None = None, **arch_args: Any) -> nn.Module:
    """``backbone_weights``: a torchvision ResNet file for the trunk (not stored in the bundle)."""
    model = SemanticEmbedding(SemanticConfig.from_arch_args(arch_args))
    if backbone_weights:
        model.load_backbone(backbone_weights)
    return model
