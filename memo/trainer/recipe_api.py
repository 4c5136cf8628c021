"""The :class:`Recipe` protocol: how ``memo train`` trains one kind of model, step by step.

:func:`memo.trainer.recipe.train` runs every recipe the same way — it owns the run
directory, the checkpoint, the evaluation protocol and the ensemble loop — and asks the
recipe for what differs between kinds of model:

1. :meth:`Recipe.check_options` — refuse options this kind of model cannot take, before any work;
2. :meth:`Recipe.prepare` — load and check the data (``--check`` stops after this step);
   :meth:`Recipe.build` — the long part of preparing the inputs (embeddings, frame cache),
   once the run directory exists; the protocol's splits are made where the items are final
   (the vector recipes keep those their check made; the video recipe makes them in ``build``,
   once undecodable videos are dropped);
3. :meth:`Recipe.fit_member` — train one network on some items (resuming from the
   checkpoint), and :meth:`Recipe.predict` its predictions of other items;
4. :meth:`Recipe.assemble` — the final members as one bundle, loaded back strictly;
5. :meth:`Recipe.report` — ``metrics.json``, ``predictions*.csv`` and plots.

A model's registry entry names its recipe (``@register_model(..., recipe="video")``); the
built-in recipes are declared by name in :data:`RECIPES` (their modules imported when a run
first asks for one), a recipe outside memo registers itself with :func:`register_recipe`. So
adding a trainable model is its own module and its registry entry; adding a *kind* of training
is a recipe module and one line in :data:`RECIPES`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from memo.errors import InputError, MemoError
from memo.models.registry import get_entry, list_models
from memo.registry import Registry

if TYPE_CHECKING:  # types only: the recipe modules import these modules, never the reverse
    from memo.models.bundle import Bundle
    from memo.trainer.checkpoint import Checkpoint
    from memo.trainer.crossval import CrossValResult
    from memo.trainer.engine import FitConfig, FitState
    from memo.trainer.final import FinalResult
    from memo.trainer.options import TrainOptions
    from memo.trainer.prepare import Prepared, ProgressFn


class Recipe(Protocol):
    """One way of training a kind of model (see the module docstring for the order of the steps)."""

    name: str
    #: ``metrics.json``'s speed field of a final member, e.g. ``"clips_per_second"`` (None: none)
    speed_unit: str | None

    def check_options(self, options: TrainOptions) -> None: ...

    def prepare(self, options: TrainOptions, progress: ProgressFn | None) -> Prepared: ...

    def build(self, prepared: Prepared, options: TrainOptions, progress: ProgressFn | None) -> None: ...

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
    ) -> tuple[torch.nn.Module, FitState]: ...

    def predict(
        self, model: torch.nn.Module, options: TrainOptions, prepared: Prepared, index: np.ndarray
    ) -> dict[str, np.ndarray]: ...

    def member_weights(self, model: torch.nn.Module, options: TrainOptions) -> dict[str, torch.Tensor]: ...

    def assemble(
        self, options: TrainOptions, prepared: Prepared, final: FinalResult, folder: Path
    ) -> Bundle: ...

    def report(
        self,
        out: Path,
        options: TrainOptions,
        prepared: Prepared,
        crossval: CrossValResult,
        final: FinalResult,
        bundle: Bundle,
        seconds: float,
    ) -> dict[str, Any]: ...


# name -> "module:Class" of the built-in recipes, imported when a run first asks for one
RECIPES: Registry[Recipe] = Registry(
    "recipe",
    lazy={
        "vector-head": "memo.trainer.vector_recipe:VectorHeadRecipe",
        "m3s": "memo.trainer.m3s_recipe:M3SRecipe",
        "video": "memo.trainer.video_recipe:VideoRecipe",
    },
)


def register_recipe(name: str) -> Callable[[type], type]:
    """Class decorator of a recipe *outside* memo (the built-in ones are declared in
    :data:`RECIPES`): registers an instance of the class as the recipe ``name``; a known name is
    refused."""

    def decorate(cls: type) -> type:
        if name in RECIPES:
            raise ValueError(f"recipe {name!r} is already registered")
        RECIPES.add(name, cls())
        return cls

    return decorate


def trainable_models() -> list[str]:
    """Every registered architecture whose entry names a recipe, sorted."""
    return [name for name in list_models() if get_entry(name).recipe is not None]


def recipe_for(model: str) -> Recipe:
    """The recipe of architecture ``model`` (named by its registry entry); InputError when unknown or
    not trainable."""
    try:
        entry = get_entry(model)
    except MemoError as exc:
        raise InputError(f"--model: {exc}") from None
    if entry.recipe is None:
        raise InputError(
            f"--model {model}: memo train cannot train this architecture yet "
            f"(trainable: {', '.join(trainable_models())})"
        )
    return RECIPES.get(entry.recipe)
