"""Training: datasets + streams -> protocol -> bundle, metrics and plots (``memo train``)."""

from memo.trainer.engine import FitConfig
from memo.trainer.recipe import TrainOptions, TrainResult, train

__all__ = ["FitConfig", "TrainOptions", "TrainResult", "train"]
