"""Training: dataset + inputs -> protocol -> bundle, metrics and plots (``memo train``).

The recipe's steps live in their own modules (prepare, crossval, final, assemble, report);
:func:`train` runs them in order on one run directory.
"""

from memo.trainer.engine import FitConfig
from memo.trainer.options import TrainOptions, resolve_options
from memo.trainer.recipe import TrainResult, train

__all__ = ["FitConfig", "TrainOptions", "TrainResult", "resolve_options", "train"]
