"""Step 2 of the recipe: the protocol (k folds, a fold file or one holdout).

For each split, ``ensemble`` heads are trained with early stopping on a seeded inner
validation split of the split's *training* items (the held-out items are never seen while
choosing the epoch), and their mean prediction of the held-out items is kept. Each finished
head is recorded in the checkpoint, so a resumed run skips it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from memo.data.datasets import LabelledSet
from memo.trainer.checkpoint import Checkpoint
from memo.trainer.engine import FitConfig, FitState, SplitData, fit, make_optimizer, predict
from memo.trainer.metrics import evaluate
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared, ProgressFn, Vectors
from memo.trainer.protocols import Split, inner_val

EpochHook = Callable[[str, int], Callable[[FitState], None]]  # (phase, epochs) -> per-epoch callback


@dataclass
class CrossValResult:
    oof: dict[str, np.ndarray]  # target -> out-of-fold prediction per item (NaN where never held out)
    folds: list[dict[str, Any]]  # one row per split: its name, size and metrics per target
    best_epochs: list[int]  # of every head of every split
    curves: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # phase -> history


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


def split_data(
    vectors: Vectors, data: LabelledSet, targets: list[str], index: np.ndarray, device: str
) -> SplitData:
    dev = torch.device(device)
    out = SplitData(
        {k: torch.from_numpy(v[index]).float().to(dev) for k, v in vectors.per_item.items()},
        {t: torch.from_numpy(data.targets[t][index]).float().to(dev) for t in targets},
    )
    if vectors.captions is not None and vectors.caption_key in vectors.per_item:
        rows, owner = vectors.captions
        position = np.full(len(data), -1, dtype=np.int64)
        position[index] = np.arange(index.size)
        keep = position[owner] >= 0
        out.caption_input = vectors.caption_key
        out.caption_rows = torch.from_numpy(rows[keep]).float().to(dev)
        out.caption_owner = torch.from_numpy(position[owner[keep]]).to(dev)
    return out


def train_member(
    phase: str,
    options: TrainOptions,
    prepared: Prepared,
    fit_index: np.ndarray,
    val_index: np.ndarray | None,
    cfg: FitConfig,
    seed: int,
    ckpt: Checkpoint,
    on_epoch: Callable[[FitState], None] | None = None,
    transform_index: np.ndarray | None = None,
) -> tuple[torch.nn.Module, FitState]:
    """Train one head on ``fit_index`` (early stopping on ``val_index``), resuming from ``ckpt``.
    An m3s model fits its transforms on ``transform_index`` (default: ``fit_index``)."""
    from memo.models.fusion import FusionMLP

    data, vectors = prepared.data, prepared.vectors
    assert vectors is not None
    train = split_data(vectors, data, options.targets, fit_index, cfg.device)
    val = split_data(vectors, data, options.targets, val_index, cfg.device) if val_index is not None else None
    means = [float(data.targets[t][fit_index].mean()) for t in options.targets]
    dims = {k: int(v["dim"]) for k, v in vectors.input_info.items()}
    torch.manual_seed(seed)
    if options.model == "m3s":  # transforms fitted on the head's training items only
        from memo.trainer.m3s_recipe import m3s_member

        model = m3s_member(options, vectors, fit_index if transform_index is None else transform_index)
    else:
        model = FusionMLP(
            dims, options.targets, options.hidden, options.dropout, options.input_dropout, None, means,
            log_inputs=list(vectors.log_inputs),
        )  # fmt: skip
    if options.finetune_text:
        from memo.trainer.finetune import TextFinetune

        assert data.captions is not None
        model = TextFinetune(options.text_encoder, model, data.captions, cfg.device)
    model = model.to(cfg.device)
    optimizer = make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(seed)
    restored = ckpt.restore(phase, model, optimizer, generator)
    state, best = restored if restored else (None, None)
    state, best = fit(
        model, train, val, cfg, generator, optimizer, state, best,
        save=lambda m, o, s, b, g: ckpt.save_epoch(phase, m, o, s, b, g),
        on_epoch=on_epoch,
    )  # fmt: skip
    model.load_state_dict(best)
    return model, state


def cross_validate(
    options: TrainOptions, prepared: Prepared, ckpt: Checkpoint, hook: EpochHook | None = None
) -> CrossValResult:
    """Train and evaluate every split of ``prepared.splits``; an empty protocol gives empty results."""
    data = prepared.data
    n = len(data)
    result = CrossValResult({t: np.full(n, np.nan) for t in options.targets}, [], [])
    for fold_number, split in enumerate(prepared.splits):
        preds: dict[str, list[np.ndarray]] = {t: [] for t in options.targets}
        for m in range(options.ensemble):
            phase = f"{split.name}/m{m}"
            done = ckpt.completed(phase)
            if done is None:
                done = _fold_member(
                    options, prepared, split, phase, member_seed(options, m, fold_number), ckpt, hook
                )
                ckpt.complete(phase, done)
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
    options: TrainOptions, prepared: Prepared, split: Split, phase: str, seed: int, ckpt: Checkpoint,
    hook: EpochHook | None,
) -> dict[str, Any]:  # fmt: skip
    cfg = options.fit
    fit_index, val_index = inner_val(split.train, options.inner_val, seed)
    on_epoch = hook(phase, cfg.epochs) if hook else None
    model, state = train_member(
        phase, options, prepared, fit_index, val_index if val_index.size else None, cfg, seed, ckpt, on_epoch
    )
    assert prepared.vectors is not None
    held_out = {
        k: torch.from_numpy(v[split.test]).float().to(cfg.device)
        for k, v in prepared.vectors.per_item.items()
    }
    pred = predict(model, held_out)
    return {"best_epoch": state.best_epoch, "epochs_run": state.epoch, "history": state.history,
            "predictions": {t: pred[t].tolist() for t in options.targets}}  # fmt: skip
