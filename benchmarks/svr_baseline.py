"""Reference baselines for docs/results.md: frozen MiniLM embeddings (+ COCO-80) -> RBF SVR.

    python benchmarks/svr_baseline.py videomem   # VMemNet 8 folds, short- and long-term
    python benchmarks/svr_baseline.py memento10k # 5-fold CV (seed 0) on the training split

Uses memo's loaders, caches and protocols, scikit-learn's SVR(C=0.1) with its defaults, and
prints the mean held-out Spearman over folds. COCO-80 features are standardised and scaled by
0.05 before being appended to the 384 unit-norm text dimensions (so neither block dominates).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.svm import SVR

from memo.data.datasets import load_memento, load_videomem
from memo.data.text import embed_caption_sets, mean_by_owner
from memo.trainer.protocols import fold_file, kfold

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def cv(x: np.ndarray, y: np.ndarray, splits) -> float:  # type: ignore[no-untyped-def]
    scores = []
    for split in splits:
        model = SVR(C=0.1).fit(x[split.train], y[split.train])
        scores.append(spearmanr(model.predict(x[split.test]), y[split.test]).statistic)
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", choices=["videomem", "memento10k"])
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    if args.dataset == "videomem":
        root = SHARED / "videomem-me18"
        data = load_videomem(root, features="coco80_rn152.bin")
        splits = fold_file(root / "vmemnet_fold_permutation.bin", len(data))
    else:
        data = load_memento(SHARED / "memento10k")
        splits = kfold(len(data), 5, 0)
    rows, owner = embed_caption_sets(data.captions, cache_dir=args.cache_dir)
    text = mean_by_owner(rows, owner, len(data))
    blocks = {"text": text}
    if data.features is not None:
        coco = (data.features - data.features.mean(0)) / data.features.std(0)
        blocks["text+coco"] = np.hstack([text, 0.05 * coco])
    for target, y in data.targets.items():
        if target == "decay_alpha":
            continue
        for name, x in blocks.items():
            print(f"{args.dataset} {target} {name}: SVR mean Spearman {cv(x, y, splits):.4f}", flush=True)


if __name__ == "__main__":
    main()
