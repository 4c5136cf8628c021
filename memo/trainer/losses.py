"""Training losses for memorability regression.

* ``mse``, ``l1``: plain regression.
* ``mse-tails``: the tail-weighted MSE of M3-S (Dumont et al., "Modular Memorability:
  Tiered Representations for Video Memorability Prediction", CVPR 2023): each item is
  weighted ``1 + 2·|y − ȳ|⁴``, weights normalised to mean 1 over the batch, so the rare
  very (un)memorable videos count more. ``ȳ`` is the training-set mean; the constants are
  the paper's, the per-batch normalisation is our reading of it.
* ``spearman``: 1 − Spearman correlation between predictions and targets, with the
  predictions' ranks made differentiable by a pairwise sigmoid relaxation
  (rank_i = ½ + Σ_j σ((p_i − p_j)/τ)); at τ → 0 these are scipy's average ranks, ties
  included (see :func:`hard_rank`). Plain PyTorch, O(B²) memory per batch, no extension.
  τ is ``FitConfig.rank_tau`` (``--rank-tau``, default 0.01). Predictions are sigmoid scores
  that differ by ~0.01–0.05 across a batch, so at τ = 0.01 most pairs sit on the flat tails
  of the sigmoid; docs/results.md (M3-S) measures τ = 0.1–1 as better on VideoMem.
  The relaxation follows the spirit of Blondel et al., "Fast Differentiable Sorting and
  Ranking", ICML 2020, without their O(B log B) projection.
* ``mse-to-spearman``: M3-S's schedule: ``(1 − w)·MSE + w·(1 − Spearman)`` with ``w``
  rising linearly from 0 at the first epoch to 1 at the last.
* ``ranking``: a pairwise margin ranking loss over all ordered pairs in the batch
  (as used for memorability ranking by e.g. Kim et al., MediaEval 2018): ``max(0, m − (p_i − p_j))``
  for every ``y_i > y_j``.
* the Memento10k decay term (Newman et al., ECCV 2020): MSE on the per-video decay
  ``alpha`` standardised by its training std, weighted by ``alpha_weight``; added by the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from memo.trainer.fit_config import LOSSES


def hard_rank(x: torch.Tensor) -> torch.Tensor:
    """Average ranks (1-based, ties share their mean rank), as ``scipy.stats.rankdata``."""
    diff = x[:, None] - x[None, :]
    return 0.5 + (diff > 0).sum(1).to(x.dtype) + 0.5 * (diff == 0).sum(1).to(x.dtype)


def soft_rank(x: torch.Tensor, tau: float = 0.01) -> torch.Tensor:
    """Differentiable ranks: ½ + Σ_j σ((x_i − x_j)/τ) (the j = i term contributes ½)."""
    if tau <= 0:
        return hard_rank(x)
    return 0.5 + torch.sigmoid((x[:, None] - x[None, :]) / tau).sum(1)


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    a = a - a.mean()
    b = b - b.mean()
    return (a * b).sum() / torch.sqrt((a * a).sum() * (b * b).sum() + eps)


def spearman(pred: torch.Tensor, target: torch.Tensor, tau: float = 0.01) -> torch.Tensor:
    """Spearman correlation with soft ranks for ``pred`` (hard when ``tau`` is 0)."""
    return pearson(soft_rank(pred, tau), hard_rank(target))


@dataclass
class LossContext:
    epoch: int  # 0-based
    epochs: int
    target_mean: float
    tau: float = 0.01  # soft-rank temperature (FitConfig.rank_tau)


LossFn = Callable[[torch.Tensor, torch.Tensor, LossContext], torch.Tensor]


def _mse(p: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
    return F.mse_loss(p, y)


def _l1(p: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
    return F.l1_loss(p, y)


def tail_weights(y: torch.Tensor, mean: float) -> torch.Tensor:
    w = 1.0 + 2.0 * (y - mean).abs() ** 4
    return w / w.mean()


def _mse_tails(p: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
    return (tail_weights(y, ctx.target_mean) * (p - y) ** 2).mean()


def _spearman(p: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
    if p.numel() < 2:
        return p.sum() * 0.0
    return 1.0 - spearman(p, y, ctx.tau)


def spearman_weight(ctx: LossContext) -> float:
    return ctx.epoch / (ctx.epochs - 1) if ctx.epochs > 1 else 1.0


def _mse_to_spearman(p: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
    w = spearman_weight(ctx)
    return (1.0 - w) * F.mse_loss(p, y) + w * _spearman(p, y, ctx)


def _ranking(p: torch.Tensor, y: torch.Tensor, ctx: LossContext, margin: float = 0.02) -> torch.Tensor:
    higher = (y[:, None] - y[None, :]) > 0
    if not bool(higher.any()):
        return p.sum() * 0.0
    gaps = p[:, None] - p[None, :]
    return F.relu(margin - gaps)[higher].mean()


_TABLE: dict[str, LossFn] = {
    "mse": _mse,
    "l1": _l1,
    "mse-tails": _mse_tails,
    "spearman": _spearman,
    "mse-to-spearman": _mse_to_spearman,
    "ranking": _ranking,
}


def get_loss(name: str) -> LossFn:
    try:
        return _TABLE[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r} (one of {', '.join(LOSSES)})") from None


def decay_loss(pred: torch.Tensor, target: torch.Tensor, scale: float) -> torch.Tensor:
    """MSE on the Memento10k decay alpha, in units of its training std."""
    return F.mse_loss(pred / scale, target / scale)
