"""PNG plots of a run: predicted vs true (Spearman in the title), per-fold bars, learning curves.

matplotlib (the ``train`` extra) is imported here only, with the Agg backend (no display).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from memo.data.datasets import LabelledSet
from memo.errors import MissingDependency
from memo.fsio import atomic_path
from memo.trainer.metrics import evaluate

log = logging.getLogger(__name__)


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependency("matplotlib", "train", "training plots") from None
    return plt


def _save(fig, path: Path) -> Path:  # type: ignore[no-untyped-def]
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return path


def write_plots(
    folder: Path,
    data: LabelledSet,
    oof: dict[str, np.ndarray],
    folds: list[dict[str, Any]],
    curves: dict[str, list[dict[str, float]]],
    targets: list[str],
) -> list[Path]:
    plt = _pyplot()
    written: list[Path] = []
    for t in targets:
        covered = ~np.isnan(oof[t])
        if covered.sum() < 2:
            continue
        truth, pred = data.targets[t][covered], oof[t][covered]
        m = evaluate(pred, truth)
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(truth, pred, s=4, alpha=0.4)
        lo, hi = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"true {t}")
        ax.set_ylabel(f"predicted {t} (held-out)")
        ax.set_title(f"{data.name} {t}: Spearman {m['spearman']:.3f}, Pearson {m['pearson']:.3f}")
        written.append(_save(fig, folder / f"scatter_{t}.png"))
        plt.close(fig)
    if folds:
        fig, ax = plt.subplots(figsize=(max(4, len(folds) * 0.9), 3.5))
        width = 0.8 / max(1, len([t for t in targets if t != "decay_alpha"]))
        shown = [t for t in targets if t != "decay_alpha"]
        for j, t in enumerate(shown):
            values = [row[t]["spearman"] for row in folds]
            ax.bar(
                np.arange(len(folds)) + j * width, values, width, label=f"{t} (mean {np.nanmean(values):.3f})"
            )
        ax.set_xticks(np.arange(len(folds)) + width * (len(shown) - 1) / 2, [row["split"] for row in folds])
        ax.set_ylabel("Spearman")
        ax.set_title("held-out Spearman per fold")
        ax.legend(fontsize=8)
        written.append(_save(fig, folder / "folds.png"))
        plt.close(fig)
    if curves:
        fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.5))
        for phase, history in curves.items():
            if not history:
                continue
            epochs = [h["epoch"] for h in history]
            ax_loss.plot(epochs, [h["train_loss"] for h in history], lw=0.8, label=phase)
            if "val_spearman" in history[0]:
                ax_val.plot(epochs, [h["val_spearman"] for h in history], lw=0.8, label=phase)
        ax_loss.set_title("training loss")
        ax_loss.set_xlabel("epoch")
        ax_val.set_title("early-stopping validation Spearman")
        ax_val.set_xlabel("epoch")
        if len(curves) <= 12:
            ax_loss.legend(fontsize=6)
        written.append(_save(fig, folder / "learning_curves.png"))
        plt.close(fig)
    return written
