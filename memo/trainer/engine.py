"""The training loop over cached per-video vectors, with exact checkpoint/resume.

One call of :func:`fit` trains one model on one split: AdamW, a per-epoch learning-rate
schedule computed from the epoch number (so no scheduler state), gradient clipping,
bf16 autocast on CUDA, early stopping on validation Spearman with the best weights kept.
After every epoch the full state (weights, best weights, optimizer moments, torch and
sampler RNG states, history) is handed to ``save`` so a killed run resumes bit-exactly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from memo.runtime.base import resolve_device
from memo.trainer.fit_config import DECAY, FitConfig
from memo.trainer.losses import LossContext, decay_loss, get_loss
from memo.trainer.metrics import evaluate

log = logging.getLogger(__name__)


@dataclass
class SplitData:
    """Per-item vectors and targets for one split (tensors on the training device)."""

    vectors: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    # Optional caption-level rows of the text input, for caption sampling.
    caption_input: str | None = None
    caption_rows: torch.Tensor | None = None
    caption_owner: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return int(next(iter(self.targets.values())).shape[0])


@dataclass
class FitState:
    epoch: int = 0  # epochs completed
    best_score: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: bool = False


def resolved(cfg: FitConfig) -> FitConfig:
    """``cfg`` with its ``auto`` device resolved (``cuda`` when torch sees a GPU, else ``cpu``)."""
    return cfg if cfg.device != "auto" else replace(cfg, device=resolve_device("auto"))


def learning_rate(cfg: FitConfig, epoch: int) -> float:
    if cfg.warmup and epoch < cfg.warmup:
        return cfg.lr * (epoch + 1) / cfg.warmup
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / max(1, cfg.epochs)))
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** (epoch // max(1, cfg.step_size))
    if cfg.schedule == "constant":
        return cfg.lr
    raise ValueError(f"unknown schedule {cfg.schedule!r} (cosine, step, constant)")


def make_optimizer(model: nn.Module, cfg: FitConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _epoch_vectors(data: SplitData, generator: torch.Generator, sampling: str) -> dict[str, torch.Tensor]:
    """The vectors of an epoch; with caption sampling, each item's text is the mean of a random
    non-empty subset of its captions (an augmentation; evaluation always uses all captions)."""
    if sampling != "random" or data.caption_rows is None or data.caption_input is None:
        return data.vectors
    assert data.caption_owner is not None
    rows, owner = data.caption_rows, data.caption_owner
    keep = torch.rand(rows.shape[0], generator=generator, device="cpu").to(rows.device) < 0.6
    # every item keeps at least one caption: its first caption is always in
    first = torch.zeros(data.size, dtype=torch.long, device=rows.device)
    first.scatter_reduce_(
        0, owner, torch.arange(rows.shape[0], device=rows.device), reduce="amin", include_self=False
    )
    keep[first] = True
    w = keep.to(rows.dtype)
    sums = torch.zeros(data.size, rows.shape[1], device=rows.device, dtype=rows.dtype).index_add_(
        0, owner, rows * w[:, None]
    )
    counts = torch.zeros(data.size, device=rows.device, dtype=rows.dtype).index_add_(0, owner, w)
    vectors = dict(data.vectors)
    vectors[data.caption_input] = sums / counts[:, None]
    return vectors


def predict(
    model: nn.Module, vectors: dict[str, torch.Tensor], batch_size: int = 2048
) -> dict[str, np.ndarray]:
    model.eval()
    n = int(next(iter(vectors.values())).shape[0])
    parts: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            out = model.fuse({k: v[start : start + batch_size] for k, v in vectors.items()})  # type: ignore[operator]
            for name, value in out.items():
                parts.setdefault(name, []).append(value.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def validation_score(model: nn.Module, data: SplitData, outputs: list[str]) -> dict[str, float]:
    preds = predict(model, data.vectors)
    scores = {}
    for name in outputs:
        if name == DECAY:
            continue
        scores[f"val_{name}_spearman"] = evaluate(preds[name], data.targets[name].cpu().numpy())["spearman"]
    ranked = [v for v in scores.values() if not math.isnan(v)]
    scores["val_spearman"] = float(np.mean(ranked)) if ranked else float("nan")
    return scores


def _batch_loss(
    out: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    cfg: FitConfig,
    loss_fn: Any,
    means: dict[str, float],
    alpha_scale: float,
    ctx_base: dict[str, Any],
    device: torch.device,
) -> torch.Tensor:
    """The sum of every output's loss on one batch (the decay alpha weighted by ``alpha_weight``)."""
    loss = torch.zeros((), device=device)
    for name, target in targets.items():
        pred = out[name].float()
        if name == DECAY:
            loss = loss + cfg.alpha_weight * decay_loss(pred, target.float(), alpha_scale)
        else:
            loss = loss + loss_fn(pred, target.float(), LossContext(target_mean=means[name], **ctx_base))
    return loss


SaveFn = Callable[
    [nn.Module, torch.optim.Optimizer, FitState, dict[str, torch.Tensor], torch.Generator], None
]
EpochFn = Callable[[FitState], None]


def fit(
    model: nn.Module,
    train: SplitData,
    val: SplitData | None,
    cfg: FitConfig,
    generator: torch.Generator,
    optimizer: torch.optim.Optimizer | None = None,
    state: FitState | None = None,
    best: dict[str, torch.Tensor] | None = None,
    save: SaveFn | None = None,
    on_epoch: EpochFn | None = None,
) -> tuple[FitState, dict[str, torch.Tensor]]:
    """Train ``model.fuse`` on ``train``; early-stop on ``val`` Spearman when given.

    Returns the final state and the weights to keep (the best epoch's with validation,
    the last epoch's without). Pass ``optimizer``/``state``/``best`` from a checkpoint to resume.
    """
    cfg = resolved(cfg)
    device = torch.device(cfg.device)
    loss_fn = get_loss(cfg.loss)
    outputs: list[str] = list(model.outputs)  # type: ignore[arg-type]
    means = {k: float(v.float().mean()) for k, v in train.targets.items()}
    alpha_scale = float(train.targets[DECAY].float().std()) if DECAY in train.targets else 1.0
    optimizer = optimizer or make_optimizer(model, cfg)
    state = state or FitState()
    best = best if best is not None else {k: v.detach().clone() for k, v in model.state_dict().items()}
    use_amp = cfg.amp and device.type == "cuda"
    n = train.size
    while state.epoch < cfg.epochs and not state.stopped:
        epoch = state.epoch
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, epoch)
        model.train()
        vectors = _epoch_vectors(train, generator, cfg.caption_sampling)
        order = torch.randperm(n, generator=generator).to(device)
        ctx_base = {"epoch": epoch, "epochs": cfg.epochs, "tau": cfg.rank_tau}
        total, batches = 0.0, 0
        for start in range(0, n, cfg.batch_size):
            index = order[start : start + cfg.batch_size]
            if index.numel() < 2:
                continue
            batch = {k: v[index] for k, v in vectors.items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                out = model.fuse(batch)  # type: ignore[operator]
            targets = {name: train.targets[name][index] for name in outputs}
            loss = _batch_loss(out, targets, cfg, loss_fn, means, alpha_scale, ctx_base, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        record: dict[str, float] = {
            "epoch": epoch + 1,
            "lr": learning_rate(cfg, epoch),
            "train_loss": total / max(1, batches),
        }
        state.epoch = epoch + 1
        val_record = validation_score(model, val, outputs) if val is not None and val.size >= 2 else None
        best = close_epoch(model, state, record, val_record, cfg, best)
        log.debug("epoch %d: %s", state.epoch, record)
        if save is not None:
            save(model, optimizer, state, best, generator)
        if on_epoch is not None:
            on_epoch(state)
    return state, best


def close_epoch(
    model: nn.Module,
    state: FitState,
    record: dict[str, float],
    val_record: dict[str, float] | None,
    cfg: FitConfig,
    best: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Record an epoch and apply early stopping; returns the weights to keep so far.

    With validation, the best ``val_spearman`` epoch's weights are kept (NaN never counts as
    better) and ``cfg.patience`` epochs without improvement stop the run; without
    validation, the last epoch's weights are kept.
    """
    if val_record is not None:
        record.update(val_record)
        score = record["val_spearman"]
        if score > state.best_score:  # False for NaN
            state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch, 0
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state.bad_epochs += 1
            if cfg.patience and state.bad_epochs >= cfg.patience:
                state.stopped = True
    else:
        state.best_epoch = state.epoch
        best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state.history.append(record)
    return best


# ------------------------------------------------------------------ optimizer state <-> tensors


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into named tensors (safetensors) and JSON."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"param_groups": sd["param_groups"], "state": {}}
    for index, values in sd["state"].items():
        keys = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous()
                keys[key] = "tensor"
            else:
                keys[key] = value
        meta["state"][str(index)] = keys
    return tensors, meta


def load_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    state = {}
    for index, keys in meta["state"].items():
        state[int(index)] = {
            k: tensors[f"optim.{index}.{k}"] if v == "tensor" else v for k, v in keys.items()
        }
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
