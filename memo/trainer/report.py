"""Step 5 of the recipe: what a run reports — ``metrics.json``, per-item predictions and plots.

``predictions.csv`` holds the out-of-fold prediction of every held-out item;
``predictions_test.csv`` the final bundle's prediction of every ``--test`` item. With one
validation split there is no spread to report, so its summary is that split's numbers
(no "± 0"). A head whose best validation epoch is its last one may have stopped improving
only because it ran out of epochs: the report says so.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memo.data.datasets import LabelledSet
from memo.fsio import atomic_open, atomic_write_json
from memo.models.bundle import Bundle
from memo.trainer.crossval import CrossValResult
from memo.trainer.final import FinalResult
from memo.trainer.metrics import evaluate, summarise
from memo.trainer.options import TrainOptions, recorded
from memo.trainer.prepare import Prepared, Vectors, build_vectors

VectorsFn = Callable[[LabelledSet, TrainOptions], Vectors]


def summary(options: TrainOptions, data: LabelledSet, crossval: CrossValResult) -> dict[str, Any]:
    """Per target: mean ± std over the folds and the pooled metrics; one split: its own metrics."""
    out: dict[str, Any] = {}
    if not crossval.folds:
        return out
    for t in options.targets:
        per_fold = [row[t] for row in crossval.folds]
        if len(per_fold) == 1:
            out[t] = {k: v for k, v in per_fold[0].items() if k != "n"}
            continue
        out[t] = summarise(per_fold)
        covered = ~np.isnan(crossval.oof[t])
        out[t]["pooled"] = evaluate(crossval.oof[t][covered], data.targets[t][covered])
    return out


def inner_validation(crossval: CrossValResult) -> dict[str, Any]:
    """The number to choose settings by: each split's best-epoch Spearman on its *inner*
    validation items (mean over the split's members), and their mean over the splits.

    The held-out folds' figures are what a run reports; choosing encoders, heads or
    hyper-parameters on them would tune on the test folds. This never sees them."""
    best: dict[str, list[float]] = {}
    for phase, history in crossval.curves.items():
        scores = np.asarray([r.get("val_spearman", float("nan")) for r in history], dtype=float)
        if scores.size and not np.all(np.isnan(scores)):
            best.setdefault(phase.rsplit("/", 1)[0], []).append(float(np.nanmax(scores)))
    per_split = {split: round(float(np.mean(values)), 6) for split, values in best.items()}
    mean = float(np.mean(list(per_split.values()))) if per_split else float("nan")
    return {"spearman": round(mean, 6), "per_split": per_split}


def undertrained(crossval: CrossValResult, final: FinalResult, epochs: int) -> list[str]:
    """Heads that early-stopped on validation and whose best epoch was the last allowed one."""
    curves = dict(crossval.curves) if crossval.folds else dict(final.curves)
    limit = epochs if crossval.folds else final.cfg.epochs
    return [phase for phase, history in curves.items() if _best_is_last(history, limit)]


def _best_is_last(history: list[dict[str, float]], epochs: int) -> bool:
    scores = [r.get("val_spearman", float("nan")) for r in history]
    if len(history) != epochs or all(np.isnan(scores)):
        return False
    return int(np.nanargmax(scores)) == len(scores) - 1


def _protocol(options: TrainOptions) -> str:
    if options.fold_file:
        return f"fold file {options.fold_file}"
    if options.folds:
        return f"{options.folds}-fold CV, seed {options.seed}"
    if options.val_split:
        return f"one validation split ({options.val_split:g} of the items), seed {options.seed}"
    return "none"


def metrics(
    options: TrainOptions, prepared: Prepared, crossval: CrossValResult, final: FinalResult
) -> dict[str, Any]:
    assert prepared.vectors is not None
    late = undertrained(crossval, final, options.fit.epochs)
    warnings = []
    if late:
        warnings.append(
            f"{len(late)} head(s) had their best validation epoch at the last of {options.fit.epochs} "
            f"({', '.join(late[:4])}{', ...' if len(late) > 4 else ''}): the model may be undertrained "
            "(try more --epochs)"
        )
    return {
        "dataset": options.dataset,
        "items": len(prepared.data),
        "targets": options.targets,
        "inputs": options.inputs,
        "protocol": _protocol(options),
        "early_stopping": f"validation Spearman on {options.inner_val:.0%} of each training split",
        "folds": crossval.folds,
        "summary": summary(options, prepared.data, crossval),
        "inner_validation": inner_validation(crossval),
        "final_model": {
            "trained_on": "all labelled items",
            "epochs": final.cfg.epochs,
            "rule": final.rule,
            "members": final.info,
        },
        "undertrained": late,
        "warnings": warnings,
        "extraction": prepared.vectors.extraction,
        "options": recorded(options),
    }


def evaluate_bundle(
    bundle: Bundle, test_data: LabelledSet, options: TrainOptions, vectors_of: VectorsFn = build_vectors
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The final bundle's metrics and per-item predictions on a labelled test set (``vectors_of``:
    the recipe's per-item vectors of a data set, what the bundle's ``fuse`` reads)."""
    if options.finetune_text:  # embed the test captions with the bundle's own fine-tuned encoder
        from memo.trainer.finetune import ENCODER_DIR

        options = replace(options, finetune_text=False, text_encoder=str(bundle.path / ENCODER_DIR))
    vectors = vectors_of(test_data, options)
    module = bundle.build_module()
    with torch.inference_mode():
        feed = {k: torch.from_numpy(v).float() for k, v in vectors.per_item.items()}
        out = module.fuse(feed)
    preds = {t: out[t].numpy().astype(np.float64) for t in options.targets}
    return {t: evaluate(preds[t], test_data.targets[t]) for t in options.targets}, preds


def write_predictions(
    path: Path, data: LabelledSet, preds: dict[str, np.ndarray], targets: list[str]
) -> bool:
    """``id, <t>_true..., <t>_pred...`` for every item (empty where never predicted); atomic."""
    if all(np.isnan(v).all() for v in preds.values()):
        return False
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *[f"{t}_true" for t in targets], *[f"{t}_pred" for t in targets]])
        for i, item in enumerate(data.ids):
            writer.writerow([item, *[f"{data.targets[t][i]:.6f}" for t in targets],
                             *["" if np.isnan(preds[t][i]) else f"{preds[t][i]:.6f}" for t in targets]])  # fmt: skip
    return True


def write_report(
    out: Path,
    options: TrainOptions,
    prepared: Prepared,
    crossval: CrossValResult,
    final: FinalResult,
    bundle: Bundle,
    seconds: float,
    vectors_of: VectorsFn = build_vectors,
) -> dict[str, Any]:
    """Write ``metrics.json``, ``predictions.csv``, ``predictions_test.csv`` and the plots; return the metrics."""
    result = metrics(options, prepared, crossval, final)
    if prepared.test_data is not None:
        result["test"], test_preds = evaluate_bundle(bundle, prepared.test_data, options, vectors_of)
        write_predictions(out / "predictions_test.csv", prepared.test_data, test_preds, options.targets)
    return write_outputs(out, options, prepared, crossval, final, result, seconds)


def write_outputs(
    out: Path,
    options: TrainOptions,
    prepared: Prepared,
    crossval: CrossValResult,
    final: FinalResult,
    result: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """Write ``metrics.json`` (atomically), ``predictions.csv`` and the plots; return the metrics."""
    result["seconds"] = round(seconds, 2)
    atomic_write_json(out / "metrics.json", result)
    write_predictions(out / "predictions.csv", prepared.data, crossval.oof, options.targets)
    if options.plots:
        from memo.trainer.plots import write_plots

        curves = {**crossval.curves, **final.curves}
        paths = write_plots(
            out / "plots", prepared.data, crossval.oof, crossval.folds, curves, options.targets
        )
        result["plots"] = [str(p) for p in paths]
        atomic_write_json(out / "metrics.json", result)
    return result
