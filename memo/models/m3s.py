"""``m3s``: M3-S, modular memorability with distinctiveness.

Dumont, Hevia & Fosco, "Modular Memorability: Tiered Representations for Video
Memorability Prediction", CVPR 2023 (released code: github.com/theodumont/modular-memorability).

Tiers, any subset (``modules``):

* ``low`` — the ``lowlevel`` input ``(B, T, hog + 5)`` from :mod:`memo.data.lowlevel`; in the
  forward: HOG -> whitened PCA (10 components, fitted on the training set), the frame
  scalars (brightness, contrast, blurriness, ``log1p`` flow) beside it, mean over time
  (plus the temporal standard deviation with ``temporal_std``), ``log1p`` bytes/s, then
  standardisation with training statistics.
* ``mid`` — keyframes through a frozen image trunk, averaged over time, or a precomputed
  ``features``/``text`` vector; standardised.
* ``high`` — a clip through a frozen 3-D CNN, or a precomputed vector; standardised.
* ``similarity`` (distinctiveness) over the standardised vector of each tier named in
  ``similarity.over`` (a tier may feed the similarity without feeding the head): whitened
  PCA (10) then ``dbscan`` — a one-hot of the DBSCAN cluster found on a t-SNE (3-D) map of
  the training set, with one extra column for DBSCAN's noise — and/or ``knn`` — the log
  mean distance to the ``k`` nearest training videos in the PCA space, standardised.
* head: MLP ``[512, 64]`` with Mish and a sigmoid per output (``calibrated``: then an affine
  map per output, fitted after training with a rank-only loss, see
  :func:`memo.trainer.m3s_recipe.calibrate`); optional dropout on its input
  (``input_dropout``) and after each hidden layer (``dropout``) — memo's addition, off by
  default (the paper's head has none); on the real-label runs of docs/results.md it is what
  keeps the head from overfitting the 7,000 training items within 3-4 epochs.

From the paper / released code: the tiers, HOG + PCA(10, whitened), the frame scalars,
the stream size, PCA(10, whitened) -> t-SNE(3) -> DBSCAN one-hot similarity, the head
(widths, Mish, sigmoid) and the losses (``mse-tails``, ``mse-to-spearman`` in
:mod:`memo.trainer.losses`). Inferred / memo's choices: the trunks (the paper's HRNet and
ip-CSN-152 are not available offline, see :mod:`memo.models.m3s_sources`); how a new
video gets a cluster — t-SNE cannot embed new points, the released code trains an
``MLPClassifier`` on the PCA features; here it is the **label of the nearest training
video in the whitened PCA space** (1-NN: exact for training videos, no second model to
fit, and a plain gather in the ONNX graph); bytes per second rather than bytes;
``log1p`` on flow and bytes/s; standardisation of the mid/high vectors; the kNN measure.

Arguments (:mod:`memo.models.m3s_config`): the user's are declared once, in
:class:`~memo.models.m3s_config.M3SConfig` (what ``--model-arg`` and :func:`m3s_spec` take,
what ``memo models m3s`` lists). From them the spec *derives* a nested ``arch_args`` (each
tier's source and widths, the similarity settings, later the fitted sizes, the ensemble size
and the calibration flag), the data the module is built from; that record is typed too, by
:class:`~memo.models.m3s_config.M3SArchArgs` (a bundle's ``arch_args`` is checked against it
when read).

Everything fitted is a buffer (saved in ``weights.safetensors``, sizes in
``arch_args["fitted"]``) and applied here, so ``memo score`` and the ONNX export
reproduce it. In training mode the kNN measure leaves the nearest bank entry out (the
video itself: training batches come from the bank); in eval mode it does not.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from memo.models.lowlevel_layout import hog_dim, lowlevel_dim
from memo.models.m3s_config import SIM_METHODS, TIERS, M3SArchArgs, M3SConfig
from memo.models.m3s_sources import pretrained_parts
from memo.models.spec import InputSpec, ModelSpec, OutputSpec, Preprocess
from memo.models.trunks import (
    backbone_dim,
    backbone_preprocess,
    build_backbone,
    build_clip_trunk,
    clip_trunk_dim,
    clip_trunk_preprocess,
)

N_SCALARS = 4  # brightness, contrast, blurriness, flow: per frame; then bytes/s per video


def _tier_source(
    tier: str, source: str | dict[str, Any], frames: int, clip_fps: float
) -> tuple[InputSpec, dict]:
    """The input of a mid/high tier and its arch args: a trunk name, or a precomputed vector."""
    if isinstance(source, dict):
        stream, dim = source["stream"], int(source["dim"])
        return InputSpec(tier, stream, dim=dim, encoder=source.get("encoder")), {
            "trunk": None,
            "dim": dim,
            "log": bool(source.get("log", False)),
        }
    if tier == "mid":
        item = InputSpec(tier, "keyframes", num_frames=frames, preprocess=backbone_preprocess(source))
        return item, {"trunk": source, "dim": backbone_dim(source)}
    item = InputSpec(tier, "clip", num_frames=frames, fps=clip_fps, preprocess=clip_trunk_preprocess(source))
    return item, {"trunk": source, "dim": clip_trunk_dim(source)}


def m3s_spec(**args: Any) -> ModelSpec:
    """The spec of an (unfitted) m3s model (:class:`M3SConfig`)."""
    cfg = M3SConfig.from_args(args)
    modules, outputs, similarity_over, similarity_methods = (
        cfg.modules, cfg.outputs, cfg.similarity_over, cfg.similarity_methods
    )  # fmt: skip
    dropout, input_dropout, hidden, low_size = cfg.dropout, cfg.input_dropout, cfg.hidden, cfg.low_size
    bad = [m for m in modules if m not in TIERS] + [m for m in similarity_methods if m not in SIM_METHODS]
    if bad or not modules or modules == ("similarity",):
        raise ValueError(f"m3s: bad modules/methods {bad or list(modules)} (tiers: {', '.join(TIERS)})")
    over = tuple(similarity_over) if "similarity" in modules else ()
    if any(t not in ("low", "mid", "high") for t in over) or ("similarity" in modules and not over):
        raise ValueError(f"m3s: similarity.over must name low/mid/high tiers, got {list(similarity_over)}")
    needed = [t for t in ("low", "mid", "high") if t in modules or t in over]
    inputs: list[InputSpec] = []
    if not (0.0 <= dropout < 1.0 and 0.0 <= input_dropout < 1.0):
        raise ValueError(f"m3s: dropout and input_dropout must be in [0, 1), got {dropout}, {input_dropout}")
    arch: dict[str, Any] = {"modules": list(modules), "outputs": list(outputs), "hidden": list(hidden)}
    if dropout or input_dropout:  # memo's regulariser; absent (the paper's head) when both are 0
        arch["dropout"] = [float(input_dropout), float(dropout)]
    for tier in needed:
        if tier == "low":
            inputs.append(
                InputSpec(
                    "lowlevel",
                    "lowlevel",
                    num_frames=cfg.low_frames,
                    dim=lowlevel_dim(low_size),
                    preprocess=Preprocess(resize=(low_size, low_size), crop=(low_size, low_size)),
                )
            )
            arch["low"] = {
                "hog_dim": hog_dim(low_size),
                "components": cfg.hog_components,
                "temporal_std": cfg.temporal_std,
            }
        else:
            item, info = _tier_source(
                tier,
                cfg.mid if tier == "mid" else cfg.high,
                cfg.mid_frames if tier == "mid" else cfg.clip_frames,
                cfg.clip_fps,
            )
            inputs.append(item)
            arch[tier] = info
    arch["similarity"] = {
        "over": list(over),
        "methods": list(similarity_methods),
        "k": cfg.knn_k,
        "components": cfg.sim_components,
    }
    arch["fitted"] = None
    return ModelSpec(
        name="m3s",
        architecture="m3s",
        version="1",
        arch_args=arch,
        inputs=tuple(inputs),
        outputs=tuple(OutputSpec(o, f"predicted {o.replace('_', '-')} memorability") for o in outputs),
        unit="video",
        description="M3-S: low/mid/high tiers + distinctiveness, MLP head (Dumont et al., CVPR 2023)",
        export_atol=1e-4,
        metadata={"pretrained": pretrained_parts(arch)},
    )


def pool_lowlevel(
    x: torch.Tensor, hog_mean: torch.Tensor, hog_proj: torch.Tensor, temporal_std: bool
) -> torch.Tensor:
    """``(B, T, hog + 5)`` -> the pooled low-level vector (before standardisation)."""
    dh = hog_mean.shape[0]
    hog = (x[..., :dh] - hog_mean) @ hog_proj.t()
    scalars = x[..., dh : dh + N_SCALARS]
    scalars = torch.cat([scalars[..., :3], torch.log1p(scalars[..., 3:].clamp_min(0))], dim=-1)
    frames = torch.cat([hog, scalars], dim=-1)
    mean = frames.mean(1)
    parts = [mean]
    if temporal_std:
        parts.append(((frames - mean[:, None]) ** 2).mean(1).sqrt())
    parts.append(torch.log1p(x[..., dh + N_SCALARS].mean(1, keepdim=True).clamp_min(0)))
    return torch.cat(parts, dim=1)


def low_pooled_dim(low: dict[str, Any]) -> int:
    per_frame = int(low["components"]) + N_SCALARS
    return per_frame * (2 if low["temporal_std"] else 1) + 1


class M3S(nn.Module):
    def __init__(self, args: M3SArchArgs) -> None:
        super().__init__()
        mid, high = args.mid, args.high
        self.n_heads = int(args.heads)  # >1: an ensemble of independently trained heads, averaged
        self.calibrated = bool(args.calibrated)
        if self.calibrated:  # an affine map of the head's output onto the label scale (ranks kept)
            self.register_buffer("out_scale", torch.ones(len(args.outputs)))
            self.register_buffer("out_shift", torch.zeros(len(args.outputs)))
        self.dropout = (
            list(args.dropout) if args.dropout else [0.0, 0.0]
        )  # [on the head's input, after each Mish]
        self.tiers = list(args.modules)
        self.outputs = list(args.outputs)
        self.hidden = list(args.hidden)
        self.sim = dict(args.similarity)
        self.low, self.mid, self.high = args.low, mid, high
        self.mid_trunk = build_backbone(mid["trunk"]) if mid and mid["trunk"] else None
        self.high_trunk = (
            build_clip_trunk(high["trunk"], frozen=True).body if high and high["trunk"] else None
        )
        for trunk in (self.mid_trunk, self.high_trunk):
            if trunk is not None:
                trunk.requires_grad_(False).eval()
        self.fitted: dict[str, Any] | None = None
        self.head: nn.Module | None = None
        if args.fitted is not None:
            self.allocate(args.fitted)

    # -- fitted state ------------------------------------------------------------------
    def head_tiers(self) -> list[str]:
        return [t for t in TIERS if t in self.tiers]

    def block_dims(self, fitted: dict[str, Any]) -> dict[str, int]:
        dims = {}
        if "low" in self.tiers:
            dims["low"] = low_pooled_dim(self.low or {})
        for tier in ("mid", "high"):
            if tier in self.tiers:
                dims[tier] = int(getattr(self, tier)["dim"])
        if "similarity" in self.tiers:
            per = {
                src: int(fitted["clusters"][src]) + 1 if "dbscan" in self.sim["methods"] else 0
                for src in self.sim["over"]
            }
            dims["similarity"] = sum(per.values()) + len(self.sim["over"]) * ("knn" in self.sim["methods"])
        return dims

    def allocate(self, fitted: dict[str, Any]) -> None:
        """Zero buffers and a fresh head sized by ``fitted`` (``{"clusters": {src: C}, "bank": {src: N}}``)."""
        self.fitted = fitted
        shapes: dict[str, tuple[int, ...]] = {}
        if self.low is not None:
            dh, k = int(self.low["hog_dim"]), int(self.low["components"])
            shapes |= {"low_hog_mean": (dh,), "low_hog_proj": (k, dh)}
            shapes |= {"low_mean": (low_pooled_dim(self.low),), "low_std": (low_pooled_dim(self.low),)}
        for tier in ("mid", "high"):
            info = getattr(self, tier)
            if info is not None:
                shapes |= {f"{tier}_mean": (info["dim"],), f"{tier}_std": (info["dim"],)}
        c = int(self.sim["components"])
        for src in self.sim["over"]:
            dim = low_pooled_dim(self.low or {}) if src == "low" else int(getattr(self, src)["dim"])
            n = int(fitted["bank"][src])
            shapes |= {f"sim_{src}_center": (dim,), f"sim_{src}_proj": (c, dim), f"sim_{src}_bank": (n, c)}
            shapes |= {f"sim_{src}_knn": (2,)}
            self.register_buffer(f"sim_{src}_labels", torch.zeros(n, dtype=torch.long))
        dims = self.block_dims(fitted)
        shapes |= {f"block_mean_{t}": (d,) for t, d in dims.items()}
        for name, shape in shapes.items():
            self.register_buffer(name, torch.zeros(shape))
        widths = [sum(dims.values()), *self.hidden]
        self.head = (
            self._mlp(widths)
            if self.n_heads == 1
            else nn.ModuleList(self._mlp(widths) for _ in range(self.n_heads))
        )

    def _mlp(self, widths: list[int]) -> nn.Sequential:
        into, between = self.dropout
        layers: list[nn.Module] = [nn.Dropout(into)] if into else []
        for a, b in itertools.pairwise(widths):
            layers += [nn.Linear(a, b), nn.Mish()] + ([nn.Dropout(between)] if between else [])
        return nn.Sequential(*layers, nn.Linear(widths[-1], len(self.outputs)))

    def buffer(self, name: str) -> torch.Tensor:
        return self.get_buffer(name)

    def train(self, mode: bool = True) -> M3S:
        """Frozen trunks stay in eval mode (batch norm statistics fixed) while the head trains."""
        super().train(mode)
        for trunk in (self.mid_trunk, self.high_trunk):
            if trunk is not None:
                trunk.eval()
        return self

    def load_trunk(self, tier: str, state: dict[str, torch.Tensor]) -> None:
        """Load a frozen trunk's weights (e.g. from :func:`memo.data.video_features.backbone_state`:
        ResMem's from the ``resmem`` package, or a user's torchvision file without its classifier)."""
        trunk = self.mid_trunk if tier == "mid" else self.high_trunk if tier == "high" else None
        if trunk is None:
            raise ValueError(f"m3s: tier {tier!r} has no trunk in this model")
        trunk.load_state_dict(state, strict=True)

    # -- forward pieces ----------------------------------------------------------------
    def raw_vectors(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The unfitted per-tier inputs: low-level frames ``(B, T, D)``, trunk embeddings ``(B, D)``."""
        raw: dict[str, torch.Tensor] = {}
        if "lowlevel" in inputs:
            raw["low"] = inputs["lowlevel"].float()
        if "mid" in inputs:
            x = inputs["mid"].float()
            if self.mid_trunk is not None:
                b, t = x.shape[:2]
                embed = getattr(self.mid_trunk, "embed", self.mid_trunk)
                x = embed(x.flatten(0, 1)).reshape(b, t, -1).mean(1)
            raw["mid"] = self._maybe_log(x, self.mid)
        if "high" in inputs:
            x = inputs["high"].float()
            raw["high"] = self.high_trunk(x) if self.high_trunk is not None else self._maybe_log(x, self.high)
        return raw

    @staticmethod
    def _maybe_log(x: torch.Tensor, info: dict[str, Any] | None) -> torch.Tensor:
        """``log(x + 1e-3)`` for precomputed class scores (``{"log": true}``; heavy-tailed, as
        COCO-80 scores), inside the model so scoring sees what training saw."""
        return torch.log(x.clamp_min(0) + 1e-3) if info and info.get("log") else x

    def tier_vectors(self, raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Standardised low/mid/high vectors (fitted statistics)."""
        out = {}
        if "low" in raw and self.low is not None:
            pooled = pool_lowlevel(
                raw["low"],
                self.buffer("low_hog_mean"),
                self.buffer("low_hog_proj"),
                bool(self.low["temporal_std"]),
            )
            out["low"] = (pooled - self.buffer("low_mean")) / self.buffer("low_std")
        for tier in ("mid", "high"):
            if tier in raw:
                out[tier] = (raw[tier] - self.buffer(f"{tier}_mean")) / self.buffer(f"{tier}_std")
        return out

    def similarity_features(self, vectors: dict[str, torch.Tensor], in_bank: bool = False) -> torch.Tensor:
        """``in_bank``: the rows are training videos, so the kNN distance leaves each one's own
        bank entry out (always so in training mode, where batches come from the bank)."""
        parts = []
        for src in self.sim["over"]:
            z = (vectors[src] - self.buffer(f"sim_{src}_center")) @ self.buffer(f"sim_{src}_proj").t()
            bank = self.buffer(f"sim_{src}_bank")
            d2 = ((z * z).sum(1, keepdim=True) + (bank * bank).sum(1)[None] - 2.0 * z @ bank.t()).clamp_min(0)
            if "dbscan" in self.sim["methods"]:
                label = self.buffer(f"sim_{src}_labels")[d2.argmin(dim=1)]
                classes = torch.arange(int(self.fitted["clusters"][src]) + 1, device=z.device)  # type: ignore[index]
                parts.append((label[:, None] == classes[None]).to(z.dtype))
            if "knn" in self.sim["methods"]:
                skip = 1 if self.training or in_bank else 0
                k = min(int(self.sim["k"]), bank.shape[0] - 1)
                nearest = -torch.topk(-d2, k + skip, dim=1).values[:, skip:]
                dist = torch.log(nearest.clamp_min(1e-12).sqrt().mean(1, keepdim=True) + 1e-6)
                stats = self.buffer(f"sim_{src}_knn")
                parts.append((dist - stats[0]) / stats[1])
        return torch.cat(parts, dim=1)

    def head_blocks(self, raw: dict[str, torch.Tensor], in_bank: bool = False) -> dict[str, torch.Tensor]:
        """The head's input, one block per tier, in :data:`TIERS` order (``in_bank``: see
        :meth:`similarity_features`)."""
        if self.fitted is None:
            raise RuntimeError("m3s is not fitted: run memo.models.m3s_fit.fit_m3s on the training set first")
        vectors = self.tier_vectors(raw)
        blocks = {t: vectors[t] for t in ("low", "mid", "high") if t in self.tiers}
        if "similarity" in self.tiers:
            blocks["similarity"] = self.similarity_features(vectors, in_bank)
        return blocks

    def head_from_blocks(self, blocks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.head is None:
            raise RuntimeError("m3s is not fitted: run memo.models.m3s_fit.fit_m3s on the training set first")
        x = torch.cat([blocks[t] for t in self.head_tiers()], dim=1)
        if isinstance(self.head, nn.ModuleList):  # the mean of the members' predictions
            y = torch.stack([torch.sigmoid(h(x)) for h in self.head]).mean(0)
        else:
            y = torch.sigmoid(self.head(x))
        if self.calibrated:
            y = y * self.buffer("out_scale") + self.buffer("out_shift")
        return {name: y[:, i] for i, name in enumerate(self.outputs)}

    def head_from_raw(self, raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Train on cached :meth:`raw_vectors` (frozen trunks run once per video)."""
        return self.head_from_blocks(self.head_blocks(raw))

    def contributions(
        self,
        lowlevel: torch.Tensor | None = None,
        mid: torch.Tensor | None = None,
        high: torch.Tensor | None = None,
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Per-video tier contributions (:func:`memo.models.m3s_contrib.module_contributions`),
        called with the model's inputs like ``forward`` — the hook for ``memo explain``."""
        from memo.models.m3s_contrib import module_contributions

        named = {"lowlevel": lowlevel, "mid": mid, "high": high}
        return module_contributions(self, {k: v for k, v in named.items() if v is not None})

    def fuse(self, vectors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """:meth:`head_from_raw` under the name :func:`memo.trainer.engine.fit` calls: the
        engine trains on cached per-video vectors (here the tiers' raw vectors)."""
        return self.head_from_raw(vectors)

    def forward(
        self,
        lowlevel: torch.Tensor | None = None,
        mid: torch.Tensor | None = None,
        high: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        # Named parameters, not **kwargs: the ONNX tracer binds its inputs by parameter name.
        named = {"lowlevel": lowlevel, "mid": mid, "high": high}
        return self.head_from_raw(self.raw_vectors({k: v for k, v in named.items() if v is not None}))
