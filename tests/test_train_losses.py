"""Losses and metrics: soft Spearman against scipy, the M3-S schedules and weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from memo.trainer.losses import LOSSES, LossContext, get_loss, hard_rank, soft_rank, spearman, tail_weights
from memo.trainer.metrics import evaluate, summarise


@pytest.mark.parametrize("seed", range(5))
def test_spearman_on_hard_ranks_equals_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pred = rng.normal(size=200)
    target = rng.normal(size=200)
    if seed % 2:  # ties in both, as in real rounded scores
        pred, target = np.round(pred, 1), np.round(target, 1)
    ours = float(spearman(torch.tensor(pred), torch.tensor(target), tau=0))
    assert ours == pytest.approx(stats.spearmanr(pred, target).statistic, abs=1e-10)
    assert np.allclose(hard_rank(torch.tensor(target)).numpy(), stats.rankdata(target))


def test_soft_rank_approaches_hard_rank_and_has_gradients() -> None:
    x = torch.tensor([0.3, 0.1, 0.9, 0.5], dtype=torch.float64, requires_grad=True)
    assert torch.allclose(soft_rank(x, tau=1e-4), torch.tensor([2.0, 1.0, 4.0, 3.0], dtype=torch.float64))
    y = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    loss = 1 - spearman(x, y, tau=0.1)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # the gradient points towards the target order: raising x[3] (target rank 4) lowers the loss
    assert x.grad[3] < 0


def test_spearman_loss_trains_a_ranking() -> None:
    torch.manual_seed(0)
    target = torch.rand(64)
    pred = torch.randn(64, requires_grad=True)
    opt = torch.optim.Adam([pred], lr=0.05)
    ctx = LossContext(epoch=0, epochs=1, target_mean=0.5)
    for _ in range(300):
        opt.zero_grad()
        get_loss("spearman")(pred, target, ctx).backward()
        opt.step()
    assert stats.spearmanr(pred.detach().numpy(), target.numpy()).statistic > 0.95


def test_tail_weights_follow_m3s() -> None:
    y = torch.tensor([0.2, 0.8, 0.8, 1.0])
    w = tail_weights(y, mean=0.8)
    raw = 1 + 2 * (y - 0.8).abs() ** 4
    assert torch.allclose(w, raw / raw.mean())
    assert float(w.mean()) == pytest.approx(1.0)
    assert w[0] > w[3] > w[1]


def test_mse_to_spearman_moves_from_mse_to_spearman() -> None:
    p, y = torch.tensor([0.5, 0.6, 0.9, 0.7]), torch.tensor([0.1, 0.9, 0.3, 0.8])
    fn = get_loss("mse-to-spearman")
    first = fn(p, y, LossContext(0, 10, 0.5))
    last = fn(p, y, LossContext(9, 10, 0.5))
    middle = fn(p, y, LossContext(3, 10, 0.5))
    mse = get_loss("mse")(p, y, LossContext(0, 10, 0.5))
    spear = get_loss("spearman")(p, y, LossContext(0, 10, 0.5))
    assert float(first) == pytest.approx(float(mse))
    assert float(last) == pytest.approx(float(spear))
    assert float(middle) == pytest.approx(float(mse) * 2 / 3 + float(spear) / 3)


def test_ranking_loss_is_zero_only_when_ordered_with_margin() -> None:
    fn = get_loss("ranking")
    ctx = LossContext(0, 1, 0.5)
    y = torch.tensor([0.1, 0.5, 0.9])
    assert float(fn(torch.tensor([0.0, 0.5, 1.0]), y, ctx)) == 0.0
    assert float(fn(torch.tensor([1.0, 0.5, 0.0]), y, ctx)) > 0.5


def test_every_loss_is_finite_and_differentiable() -> None:
    for name in LOSSES:
        p = torch.rand(16, requires_grad=True)
        value = get_loss(name)(p, torch.rand(16), LossContext(1, 3, 0.5))
        value.backward()
        assert torch.isfinite(value) and p.grad is not None, name
    with pytest.raises(ValueError, match="unknown loss 'msee'"):
        get_loss("msee")


def test_metrics_and_fold_summary() -> None:
    m = evaluate(np.array([0.1, 0.2, 0.3]), np.array([1.0, 3.0, 2.0]))
    assert m["spearman"] == pytest.approx(0.5) and m["n"] == 3
    s = summarise(
        [{"spearman": 0.4, "pearson": 0.5, "mse": 0.1}, {"spearman": 0.6, "pearson": 0.5, "mse": 0.3}]
    )
    assert s["spearman_mean"] == pytest.approx(0.5) and s["spearman_std"] == pytest.approx(0.1)
    assert s["mse_mean"] == pytest.approx(0.2)
