"""Step 3 of every recipe, continued: the final members, trained on *all* labelled items.

After a protocol, each final member trains for the folds' mean best epoch count with no early
stopping (nothing is left to stop on). Without a protocol, it early-stops on the seeded
inner validation split instead.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from memo.trainer.checkpoint import Checkpoint
from memo.trainer.crossval import CrossValResult, EpochHook
from memo.trainer.engine import FitConfig
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared
from memo.trainer.protocols import inner_val
from memo.trainer.recipe_api import Recipe

FINAL_SEED = 999  # added to each member's seed offset for the final heads


@dataclass
class FinalResult:
    members: list[dict[str, torch.Tensor]]  # each head's state dict (CPU)
    cfg: FitConfig  # how the final heads were trained
    rule: str  # how their epoch count was chosen
    info: list[dict[str, Any]]  # per head: epochs run, best epoch
    curves: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    model: torch.nn.Module | None = None  # the last head (its fine-tuned encoder, with --finetune-text)


def final_config(options: TrainOptions, crossval: CrossValResult) -> tuple[FitConfig, str]:
    if not crossval.best_epochs:
        return options.fit, "early stopping on the inner validation split"
    epochs = max(1, round(float(np.mean(crossval.best_epochs))))
    cfg = FitConfig(**{**asdict(options.fit), "epochs": epochs, "patience": 0})
    if len(crossval.folds) == 1:
        return cfg, "the best epoch of the validation split"
    return cfg, "mean of the folds' best epochs"


def train_final(
    recipe: Recipe,
    options: TrainOptions,
    prepared: Prepared,
    crossval: CrossValResult,
    ckpt: Checkpoint,
    hook: EpochHook | None = None,
) -> FinalResult:
    """Train ``options.ensemble`` final members on every labelled item."""
    cfg, rule = final_config(options, crossval)
    result = FinalResult([], cfg, rule, [])
    all_index = np.arange(len(prepared.data))
    for m in range(options.ensemble):
        phase = f"final/m{m}"
        seed = options.seed + 1000 * m + FINAL_SEED
        if crossval.best_epochs:
            fit_index, val_index = all_index, None
        else:
            fit_index, val_index = inner_val(all_index, options.inner_val, seed)
            val_index = val_index if val_index.size else None
        on_epoch = hook(phase, cfg.epochs) if hook else None
        resumed_at = _resumed_epoch(ckpt, phase)
        started = time.perf_counter()
        # transform_index: an m3s bundle's heads share transforms fitted on every labelled item
        model, state = recipe.fit_member(
            phase,
            options,
            prepared,
            fit_index,
            val_index,
            cfg,
            seed,
            ckpt,
            on_epoch,
            transform_index=all_index,
        )
        info: dict[str, Any] = {"epochs": state.epoch, "best_epoch": state.best_epoch}
        if recipe.speed_unit and state.epoch > resumed_at:  # training speed, with any validation pass
            seconds = time.perf_counter() - started
            info[recipe.speed_unit] = round(fit_index.size * (state.epoch - resumed_at) / seconds, 2)
            info["validated_each_epoch"] = val_index is not None and val_index.size >= 2
        result.members.append(recipe.member_weights(model, options))
        result.info.append(info)
        result.curves[phase] = state.history
        result.model = model
        ckpt.complete(
            phase, {"best_epoch": state.best_epoch, "epochs_run": state.epoch, "history": state.history}
        )
    return result


def _resumed_epoch(ckpt: Checkpoint, phase: str) -> int:
    """The epochs of ``phase`` the checkpoint already holds (0 on a fresh start)."""
    current = ckpt.data.get("current") or {}
    return int(current["fit"]["epoch"]) if current.get("phase") == phase else 0
