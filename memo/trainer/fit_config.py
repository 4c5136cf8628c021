"""How one network is fitted (:class:`FitConfig`), and the checks of its values.

Plain data, without torch: ``memo train`` reads and checks these options (a loss or schedule
name, a number out of range) before torch is imported, so a mistake is told in well under a
second. The ``auto`` device is resolved when training starts (:func:`memo.trainer.options.validate`,
:func:`memo.trainer.engine.fit`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from memo.errors import InputError

DECAY = "decay_alpha"
#: the losses of :mod:`memo.trainer.losses`, by name
LOSSES = ("mse", "l1", "mse-tails", "spearman", "mse-to-spearman", "ranking")
SCHEDULES = ("cosine", "step", "constant")
CAPTION_SAMPLING = ("mean", "random")


@dataclass
class FitConfig:
    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-2
    loss: str = "mse"
    schedule: str = "cosine"  # cosine | step | constant
    step_size: int = 20
    gamma: float = 0.5
    warmup: int = 0
    grad_clip: float = 1.0
    patience: int = 15
    amp: bool = True  # bf16 autocast, CUDA only
    alpha_weight: float = 0.1
    rank_tau: float = 0.01  # soft-rank temperature of the spearman losses (memo.trainer.losses)
    caption_sampling: str = "mean"  # mean | random (random subset of an item's captions per epoch)
    device: str = "auto"  # auto: cuda when torch sees a GPU, else cpu (resolved when training starts)


def check_fit_config(cfg: FitConfig) -> None:
    """Names and numbers a run cannot train with (a config file can give what the flags refuse)."""
    for flag, value, known in (
        ("--loss", cfg.loss, LOSSES),
        ("--schedule", cfg.schedule, SCHEDULES),
        ("--caption-sampling", cfg.caption_sampling, CAPTION_SAMPLING),
    ):
        if value not in known:
            raise InputError(f"{flag} {value!r}: one of {', '.join(known)}")
    for flag, number, least in (
        ("--epochs", cfg.epochs, 1),
        ("--batch-size", cfg.batch_size, 2),
        ("--step-size", cfg.step_size, 1),
        ("--patience", cfg.patience, 0),
        ("warmup", cfg.warmup, 0),
    ):
        if number < least:
            raise InputError(f"{flag} must be at least {least}, got {number}")
    if not cfg.lr > 0:
        raise InputError(f"--lr must be positive, got {cfg.lr}")
