"""Step 3 of every recipe: the protocol (k folds, a fold file or one holdout).

For each split, ``ensemble`` members (:meth:`~memo.trainer.recipe_api.Recipe.fit_member`) are
trained with early stopping on a seeded inner validation split of the split's *training* items
(the held-out items are never seen while choosing the epoch), and their mean prediction of the
held-out items is kept. Each finished member is recorded in the checkpoint, so a resumed run
skips it. On several processes the members are trained by all ranks together (DDP) or dealt
out to the ranks, one per rank (:mod:`memo.trainer.fold_share`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memo.trainer import fold_share
from memo.trainer.checkpoint import Checkpoint
from memo.trainer.engine import FitState
from memo.trainer.metrics import evaluate
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared, ProgressFn
from memo.trainer.protocols import Split, inner_val
from memo.trainer.recipe_api import Recipe

EpochHook = Callable[[str, int], Callable[[FitState], None]]  # (phase, epochs) -> per-epoch callback


@dataclass
class CrossValResult:
    oof: dict[str, np.ndarray]  # target -> out-of-fold prediction per item (NaN where never held out)
    folds: list[dict[str, Any]]  # one row per split: its name, size and metrics per target
    best_epochs: list[int]  # of every head of every split
    curves: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # phase -> history
    spread: str = "batches"  # several processes: how the folds were shared (memo.trainer.fold_share)


def member_seed(options: TrainOptions, member: int, fold_number: int) -> int:
    return options.seed + 1000 * member + fold_number


def phase_plan(splits: list[Split], options: TrainOptions) -> list[str]:
    members = range(options.ensemble)
    return [f"{s.name}/m{m}" for s in splits for m in members] + [f"final/m{m}" for m in members]


def epoch_hook(plan: list[str], progress: ProgressFn | None, tensorboard: Any = None) -> EpochHook:
    """The per-epoch callback of each phase: progress events and TensorBoard scalars."""

    def for_phase(phase: str, epochs: int) -> Callable[[FitState], None]:
        def on_epoch(state: FitState) -> None:
            record = state.history[-1]
            if progress:
                progress({"phase": phase, "phase_index": plan.index(phase), "phases": len(plan),
                          "epoch": state.epoch, "epochs": epochs, "stopped": state.stopped, "record": record})  # fmt: skip
            if tensorboard is not None:
                for key, value in record.items():
                    if key != "epoch" and not (isinstance(value, float) and math.isnan(value)):
                        tensorboard.add_scalar(f"{phase}/{key}", value, state.epoch)

        return on_epoch

    return for_phase


def cross_validate(
    recipe: Recipe, options: TrainOptions, prepared: Prepared, ckpt: Checkpoint, hook: EpochHook | None = None
) -> CrossValResult:
    """Train and evaluate every split of ``prepared.splits``; an empty protocol gives empty results."""
    data = prepared.data
    n = len(data)
    result = CrossValResult({t: np.full(n, np.nan) for t in options.targets}, [], [])
    result.spread = fold_share.mode_for(options, prepared)
    if result.spread == "folds":

        def fit_unit(split: Split, number: int, phase: str, seed: int, unit: Checkpoint) -> dict[str, Any]:
            return _fold_member(recipe, options, prepared, split, phase, seed, unit, hook)

        seed_of = lambda m, number: member_seed(options, m, number)  # noqa: E731
        fold_share.train_folds_over_ranks(prepared.splits, options, ckpt, fit_unit, seed_of)
    for fold_number, split in enumerate(prepared.splits):
        preds: dict[str, list[np.ndarray]] = {t: [] for t in options.targets}
        for m in range(options.ensemble):
            phase = f"{split.name}/m{m}"
            done = ckpt.completed(phase)
            if done is None:
                seed = member_seed(options, m, fold_number)
                where = fold_share.checkpoint_for(ckpt, phase)
                done = _fold_member(recipe, options, prepared, split, phase, seed, where, hook)
                fold_share.finish(ckpt, phase, done)
            result.best_epochs.append(int(done["best_epoch"]))
            result.curves[phase] = done["history"]
            for t in options.targets:
                preds[t].append(np.asarray(done["predictions"][t]))
        row: dict[str, Any] = {"split": split.name, "n_test": int(split.test.size)}
        for t in options.targets:
            mean_pred = np.mean(preds[t], axis=0)
            result.oof[t][split.test] = mean_pred
            row[t] = evaluate(mean_pred, data.targets[t][split.test])
        result.folds.append(row)
    return result


def _fold_member(
    recipe: Recipe, options: TrainOptions, prepared: Prepared, split: Split, phase: str, seed: int,
    ckpt: Checkpoint, hook: EpochHook | None,
) -> dict[str, Any]:  # fmt: skip
    """One member of one split: trained on the split's training part (early stopping on its inner
    validation items), then its predictions of the split's held-out items."""
    cfg = options.fit
    fit_index, val_index = inner_val(split.train, options.inner_val, seed)
    on_epoch = hook(phase, cfg.epochs) if hook else None
    val = val_index if val_index.size else None
    model, state = recipe.fit_member(phase, options, prepared, fit_index, val, cfg, seed, ckpt, on_epoch)
    pred = recipe.predict(model, options, prepared, split.test)
    return {"best_epoch": state.best_epoch, "epochs_run": state.epoch, "history": state.history,
            "predictions": {t: np.asarray(pred[t]).tolist() for t in options.targets}}  # fmt: skip
