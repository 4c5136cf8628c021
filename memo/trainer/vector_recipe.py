"""The ``vector-head`` recipe (``memo train --model fusion-mlp``, or any model whose registry entry
names ``recipe="vector-head"``): heads trained on per-item vectors.

Every input is reduced to one vector per item once (:func:`memo.trainer.prepare.build_vectors`:
cached caption embeddings, precomputed features, cached frozen-backbone keyframe embeddings);
each member is a fresh instance of the registered model (the contract of such a model:
:mod:`memo.trainer.assemble`) trained on those vectors by :func:`memo.trainer.engine.fit`; the
final members become one bundle of that model. :class:`VectorHeadRecipe` is also the base of recipes whose
members train on cached vectors the same way and differ in which vectors and which model
(:mod:`memo.trainer.m3s_recipe`): they override :meth:`~VectorHeadRecipe.build`,
:meth:`~VectorHeadRecipe.new_member` and :meth:`~VectorHeadRecipe.assemble`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memo.data.datasets import LabelledSet
from memo.models.bundle import Bundle
from memo.trainer.assemble import assemble_bundle, check_head_args, new_head
from memo.trainer.checkpoint import Checkpoint
from memo.trainer.crossval import CrossValResult
from memo.trainer.engine import FitConfig, FitState, SplitData, fit, make_optimizer, predict
from memo.trainer.final import FinalResult
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared, ProgressFn, Vectors, build_vectors, check
from memo.trainer.recipe_api import recipe_for
from memo.trainer.report import write_report


def split_data(
    vectors: Vectors, data: LabelledSet, targets: list[str], index: np.ndarray, device: str
) -> SplitData:
    """The vectors and targets of the items ``index`` on ``device`` (with their caption rows, for
    ``--caption-sampling random``)."""
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


class VectorHeadRecipe:
    """Heads on per-item vectors: the fusion head (``fusion-mlp``) and any other vector-head model."""

    name = "vector-head"
    speed_unit: str | None = None

    def check_options(self, options: TrainOptions) -> None:
        """A vector head takes every option of :class:`TrainOptions`' head and input sections, and
        the ``--model-arg`` s its spec function names."""
        check_head_args(options)

    def prepare(self, options: TrainOptions, progress: ProgressFn | None) -> Prepared:
        return check(options)

    def vectors(
        self, data: LabelledSet, options: TrainOptions, progress: ProgressFn | None = None
    ) -> Vectors:
        """The per-item vectors the members train on (and the bundle's ``fuse`` reads)."""
        return build_vectors(data, options, progress)

    def build(self, prepared: Prepared, options: TrainOptions, progress: ProgressFn | None) -> None:
        """The per-item vectors (the long part: embeddings); the protocol's splits are those
        :func:`~memo.trainer.prepare.check` made before it, on the same items."""
        prepared.vectors = self.vectors(prepared.data, options, progress)

    def new_member(
        self, options: TrainOptions, prepared: Prepared, fit_index: np.ndarray, transform_index: np.ndarray
    ) -> torch.nn.Module:
        """A fresh head of ``options.model`` (torch is seeded by the caller)."""
        assert prepared.vectors is not None
        means = [float(prepared.data.targets[t][fit_index].mean()) for t in options.targets]
        return new_head(options, prepared.vectors, means)

    def fit_member(
        self,
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
        A model with fitted transforms fits them on ``transform_index`` (default: ``fit_index``)."""
        data, vectors = prepared.data, prepared.vectors
        assert vectors is not None
        train = split_data(vectors, data, options.targets, fit_index, cfg.device)
        val = (
            split_data(vectors, data, options.targets, val_index, cfg.device)
            if val_index is not None
            else None
        )
        torch.manual_seed(seed)
        model = self.new_member(
            options, prepared, fit_index, fit_index if transform_index is None else transform_index
        )
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

    def predict(
        self, model: torch.nn.Module, options: TrainOptions, prepared: Prepared, index: np.ndarray
    ) -> dict[str, np.ndarray]:
        assert prepared.vectors is not None
        device = options.fit.device
        held_out = {
            k: torch.from_numpy(v[index]).float().to(device) for k, v in prepared.vectors.per_item.items()
        }
        return predict(model, held_out)

    def member_weights(self, model: torch.nn.Module, options: TrainOptions) -> dict[str, torch.Tensor]:
        """The head's state dict on the CPU (with ``--finetune-text``: the head's, not the encoder's)."""
        head = model.head if options.finetune_text else model
        return {k: v.detach().cpu() for k, v in head.state_dict().items()}

    def assemble(self, options: TrainOptions, prepared: Prepared, final: FinalResult, folder: Path) -> Bundle:
        return assemble_bundle(options, prepared, final, folder)

    def report(
        self, out: Path, options: TrainOptions, prepared: Prepared, crossval: CrossValResult, final: FinalResult,
        bundle: Bundle, seconds: float,
    ) -> dict[str, Any]:  # fmt: skip
        return write_report(out, options, prepared, crossval, final, bundle, seconds, self.vectors)


def train_member(
    phase: str, options: TrainOptions, prepared: Prepared, fit_index: np.ndarray, val_index: np.ndarray | None,
    cfg: FitConfig, seed: int, ckpt: Checkpoint, on_epoch: Callable[[FitState], None] | None = None,
    transform_index: np.ndarray | None = None,
) -> tuple[torch.nn.Module, FitState]:  # fmt: skip
    """One member of ``options.model``'s recipe (a vector-head recipe): :meth:`VectorHeadRecipe.fit_member`."""
    return recipe_for(options.model).fit_member(
        phase, options, prepared, fit_index, val_index, cfg, seed, ckpt, on_epoch, transform_index
    )
