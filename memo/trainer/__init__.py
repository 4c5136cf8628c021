"""Training: dataset + inputs -> protocol -> bundle, metrics and plots (``memo train``).

:func:`train` (:mod:`memo.trainer.recipe`) runs the recipe a model's registry entry names
(:mod:`memo.trainer.recipe_api`, where the built-in recipes are declared). The names below are
loaded on first use, so the torch-free option checks (:mod:`memo.trainer.options`) can run
before torch is imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memo.trainer.fit_config import FitConfig
    from memo.trainer.options import TrainOptions, resolve_options
    from memo.trainer.recipe import TrainResult, train

__all__ = ["FitConfig", "TrainOptions", "TrainResult", "resolve_options", "train"]
_HOMES = {
    "FitConfig": "memo.trainer.fit_config",
    "TrainOptions": "memo.trainer.options",
    "resolve_options": "memo.trainer.options",
    "TrainResult": "memo.trainer.recipe",
    "train": "memo.trainer.recipe",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'memo.trainer' has no attribute {name!r}")
