"""Step 3 of the recipe: the final heads, trained on *all* labelled items.

After a protocol, each final head trains for the folds' mean best epoch count with no early
stopping (nothing is left to stop on). Without a protocol, it early-stops on the seeded
inner validation split instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from memo.trainer.checkpoint import Checkpoint
from memo.trainer.crossval import CrossValResult, EpochHook, train_member
from memo.trainer.engine import FitConfig
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared
from memo.trainer.protocols import inner_val

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
    options: TrainOptions,
    prepared: Prepared,
    crossval: CrossValResult,
    ckpt: Checkpoint,
    hook: EpochHook | None = None,
) -> FinalResult:
    """Train ``options.ensemble`` final heads on every labelled item."""
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
        # transform_index: an m3s bundle's heads share transforms fitted on every labelled item
        model, state = train_member(
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
        head = model.head if options.finetune_text else model
        result.members.append({k: v.detach().cpu() for k, v in head.state_dict().items()})
        result.info.append({"epochs": state.epoch, "best_epoch": state.best_epoch})
        result.curves[phase] = state.history
        result.model = model
        ckpt.complete(
            phase, {"best_epoch": state.best_epoch, "epochs_run": state.epoch, "history": state.history}
        )
    return result
