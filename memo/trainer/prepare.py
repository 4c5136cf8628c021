"""Step 2 of a recipe (:mod:`memo.trainer.recipe_api`): load and check the data, turn each input
into per-item vectors, make the splits.

Every input is reduced to one vector per item once, before any training: cached caption
embeddings (``text``), precomputed features (``features``), cached frozen-backbone
embeddings of keyframes (``keyframes``). The vector-head recipes then train on these vectors
only; the video recipe keeps the :class:`Prepared` record and decodes frames instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memo.data.datasets import CheckReport, LabelledSet, check_dataset, load_csv, load_memento, load_videomem
from memo.data.text import embed_caption_sets, encoder_dim, mean_by_owner
from memo.data.text_encoders import encoder_label
from memo.data.video_features import embed_videos
from memo.errors import InputError
from memo.models.spec import ModelSpec
from memo.trainer.options import TrainOptions
from memo.trainer.protocols import Split, fold_file, holdout, kfold
from memo.trainer.recipe_api import recipe_for

log = logging.getLogger(__name__)

# A progress event: {"phase", "phase_index", "phases", "epoch", "epochs", "record"} or {"stage": text}.
ProgressFn = Callable[[dict[str, Any]], None]

# The bundle's input name of each input kind (``frames`` is the name every keyframes model uses).
INPUT_NAMES = {"text": "text", "features": "features", "keyframes": "frames"}


@dataclass
class Vectors:
    per_item: dict[str, np.ndarray]  # input name -> (N, D)
    captions: tuple[np.ndarray, np.ndarray] | None  # caption rows, owner (for caption sampling)
    input_info: dict[str, dict[str, Any]]  # input name -> spec info for fusion_spec
    extraction: dict[str, float] = field(default_factory=dict)
    caption_key: str = "text"  # the per_item key the caption rows stand for (m3s: its text tier)

    @property
    def log_inputs(self) -> tuple[str, ...]:
        return tuple(k for k, v in self.input_info.items() if v.get("log"))


@dataclass
class Prepared:
    """Everything the training steps need, computed once."""

    data: LabelledSet
    report: CheckReport
    vectors: Vectors | None = None  # None after a --check
    splits: list[Split] = field(default_factory=list)  # made by :func:`check`, before any embedding
    test_data: LabelledSet | None = None
    spec: ModelSpec | None = None  # the (unfitted) spec of the model trained, where the recipe builds it


def load_dataset(options: TrainOptions, path: Path | None = None) -> LabelledSet:
    path = path or options.data
    if options.dataset == "videomem":
        return load_videomem(path, options.features, options.feature_rows, options.videos)
    if options.dataset == "memento10k":
        split = options.split
        if path.is_file():  # --test runs/memento/test_scores.csv
            split = path.name.removesuffix("_scores.csv")
            path = path.parent
        return load_memento(path, split, options.videos)
    return load_csv(
        path, options.targets, options.id_column, options.text_columns, options.videos,
        options.features, options.feature_rows, options.captions,
    )  # fmt: skip


def check(options: TrainOptions) -> Prepared:
    """Load the dataset (and the ``--test`` set) and check them; raises on problems unless ``check``."""
    data = load_dataset(options)
    report = check_dataset(data, options.targets, options.inputs)
    prepared = Prepared(data, report)
    if options.check:
        return prepared
    if not report.ok:
        raise InputError(f"{options.data}: " + "; ".join(report.problems) + " (run with --check for details)")
    # a protocol that cannot split these items fails now, before any embedding; the vector recipes
    # train on these splits (their items do not change after this check)
    prepared.splits = make_splits(data, options)
    if options.test is not None:
        prepared.test_data = load_dataset(options, options.test)
        test_report = check_dataset(prepared.test_data, options.targets, options.inputs)
        if not test_report.ok:
            raise InputError(f"{options.test}: " + "; ".join(test_report.problems))
    return prepared


def prepare(options: TrainOptions, progress: ProgressFn | None = None) -> Prepared:
    """Steps 2 of ``options.model``'s recipe: load and check the data, then (unless
    ``options.check``) build its inputs and the protocol's splits. Call after ``validate``."""
    recipe = recipe_for(options.model)
    prepared = recipe.prepare(options, progress)
    if not options.check:
        recipe.build(prepared, options, progress)
    return prepared


def build_vectors(data: LabelledSet, options: TrainOptions, progress: ProgressFn | None = None) -> Vectors:
    """One vector per item of each of ``options.inputs`` (text, features, keyframes)."""
    vectors = Vectors({}, None, {})
    if "text" in options.inputs:
        _text_vectors(vectors, data, options, progress)
    if "features" in options.inputs:
        assert data.features is not None
        vectors.per_item["features"] = data.features
        vectors.input_info["features"] = {
            "stream": "features",
            "dim": int(data.features.shape[1]),
            "log": _is_scores(data.features),
        }
    if "keyframes" in options.inputs:
        assert data.videos is not None
        stage = f"embedding {len(data)} videos with {options.video_backbone}"
        embedded, rate = embed_videos(
            [str(v) for v in data.videos], options.video_backbone, options.num_frames, options.backbone_weights,
            options.cache_dir, options.fit.device, progress=stage_counts(progress, stage, "videos"),
        )  # fmt: skip
        name = INPUT_NAMES["keyframes"]
        vectors.per_item[name] = embedded
        vectors.extraction["video_per_second"] = rate
        vectors.input_info[name] = {"stream": "keyframes", "dim": int(embedded.shape[1])}
    return vectors


def _text_vectors(
    vectors: Vectors, data: LabelledSet, options: TrainOptions, progress: ProgressFn | None
) -> None:
    assert data.captions is not None
    if options.finetune_text:  # the item index: the encoder inside the model embeds the captions
        vectors.per_item["text"] = np.arange(len(data), dtype=np.float32)[:, None]
        dim = encoder_dim(options.text_encoder)
    else:
        stage = f"embedding captions with {options.text_encoder}"
        started = time.perf_counter()
        rows, owner = embed_caption_sets(  # each encoder cached on its own, concatenated in order
            data.captions,
            options.text_encoder,
            options.cache_dir,
            progress=stage_counts(progress, stage, "captions"),
        )
        vectors.extraction["text_seconds"] = time.perf_counter() - started
        vectors.per_item["text"] = mean_by_owner(rows, owner, len(data))
        vectors.captions = (rows, owner)
        dim = int(rows.shape[1])
    vectors.input_info["text"] = {
        "stream": "text",
        "dim": dim,
        "encoder": encoder_label(options.text_encoder),
    }


def stage_counts(progress: ProgressFn | None, stage: str, unit: str) -> Callable[[int, int], None] | None:
    """An embedding function's ``(done, total)`` callback as progress events of one stage."""
    if progress is None:
        return None
    progress({"stage": stage})

    def report(done: int, total: int) -> None:
        progress({"stage": stage, "done": done, "total": total, "unit": unit})

    return report


def _is_scores(features: np.ndarray) -> bool:
    """Class-score features (non-negative, at most 1) are log-transformed; others are left as they are."""
    return bool(features.min() >= 0 and features.max() <= 1.0)


def make_splits(data: LabelledSet, options: TrainOptions) -> list[Split]:
    n = len(data)
    if options.fold_file:
        return fold_file(options.fold_file, n, options.folds)
    if options.folds:
        return kfold(n, options.folds, options.seed)
    if options.val_split:
        return [holdout(n, options.val_split, options.seed)]
    return []
