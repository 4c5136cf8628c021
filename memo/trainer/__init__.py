"""Training: dataset + inputs -> protocol -> bundle, metrics and plots (``memo train``).

:func:`train` (:mod:`memo.trainer.recipe`) runs the recipe a model's registry entry names
(:mod:`memo.trainer.recipe_api`). Importing this package registers the built-in recipes:
to add one, add its module's name to ``RECIPES`` below.
"""

from importlib import import_module

from memo.trainer.engine import FitConfig
from memo.trainer.options import TrainOptions, resolve_options
from memo.trainer.recipe import TrainResult, train

# Built-in recipes, one module each; importing a module registers its recipe.
RECIPES: tuple[str, ...] = ("vector_recipe", "m3s_recipe", "video_recipe")

for _module in RECIPES:
    import_module(f"memo.trainer.{_module}")

__all__ = ["FitConfig", "TrainOptions", "TrainResult", "resolve_options", "train"]
