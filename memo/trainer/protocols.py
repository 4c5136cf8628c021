"""Evaluation protocols: which items train, which stop early, which are reported.

* ``kfold(n, k, seed)``: a seeded shuffle cut into ``k`` near-equal folds.
* ``fold_file(path, n)``: a fold file such as VMemNet's ``vmemnet_fold_permutation.bin``
  (int64 1-based row numbers of the ground-truth CSV; fold *k* is the sorted slice
  ``[size·k, size·(k+1))`` of that permutation, the rest of the items train).
* ``holdout(n, fraction, seed)``: one validation split.

Inside every training set a seeded ``inner_val`` fraction is held back for early stopping
on validation Spearman, so the reported fold is never seen while choosing the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memo.errors import InputError


@dataclass(frozen=True)
class Split:
    name: str
    train: np.ndarray  # indices into the labelled set
    test: np.ndarray  # the items the split reports on


def kfold(n: int, k: int, seed: int) -> list[Split]:
    if k < 2 or k > n:
        raise InputError(f"--folds must be between 2 and the number of items ({n}), got {k}")
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, k)
    return [
        Split(f"fold{i}", np.sort(np.concatenate([p for j, p in enumerate(parts) if j != i])), np.sort(part))
        for i, part in enumerate(parts)
    ]


def read_fold_permutation(path: str | Path) -> np.ndarray:
    """0-based row indices from a permutation file of int64 1-based row numbers."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the fold file ({exc.strerror})") from exc
    if len(raw) % 8:
        raise InputError(f"{path}: not a file of int64 row numbers ({len(raw)} bytes)")
    return np.frombuffer(raw, dtype="<i8").astype(np.int64) - 1


def fold_file(path: str | Path, n: int, k: int | None = None) -> list[Split]:
    perm = read_fold_permutation(path)
    if perm.size != n or not np.array_equal(np.sort(perm), np.arange(n)):
        raise InputError(
            f"{path}: expected a permutation of rows 1..{n} of the labels, got {perm.size} numbers "
            f"in [{perm.min() + 1 if perm.size else 0}, {perm.max() + 1 if perm.size else 0}]"
        )
    k = k or 8
    if n % k:
        raise InputError(f"{path}: {n} rows do not split into {k} equal folds")
    size = n // k
    splits = []
    for i in range(k):
        test = np.sort(perm[size * i : size * (i + 1)])
        train = np.setdiff1d(np.arange(n), test)
        splits.append(Split(f"fold{i}", train, test))
    return splits


def holdout(n: int, fraction: float, seed: int) -> Split:
    if not 0 < fraction < 1:
        raise InputError(f"--val-split must be in (0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, round(n * fraction))
    return Split("holdout", np.sort(order[cut:]), np.sort(order[:cut]))


def inner_val(train: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a training index set into (fit, early-stopping validation)."""
    if fraction <= 0:
        return train, train[:0]
    order = np.random.default_rng(seed + 7919).permutation(train.size)
    cut = max(2, round(train.size * fraction))
    return np.sort(train[order[cut:]]), np.sort(train[order[:cut]])
