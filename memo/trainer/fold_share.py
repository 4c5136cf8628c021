"""Cross-validation over several processes, one fold per rank (``--distribute folds``).

Two ways to spread a cross-validated run over ``N`` processes:

* ``batches``: every network (each fold's, then the final one) trains on all ranks at once,
  in DistributedDataParallel, each rank taking ``batch / N`` videos of every batch. Each
  optimizer step all-reduces the gradients and each epoch's validation is gathered. This is
  the split for a large model or a large fold: it is the only one that divides one network's
  work (and its per-device memory: each rank holds ``batch / N`` clips' activations).
* ``folds``: the folds' networks (every ``(split, member)`` of the protocol) are dealt out to the
  ranks, rank ``r`` training units ``r, r + N, ...`` alone, single-process, with the whole
  batch; the results are gathered and reported as on one process. No collective runs while a
  fold trains, so a small model, whose step is too short to hide an all-reduce, keeps every
  process busy; and each fold's result equals the single-process one (same seed, same
  operations). The final network on all the items is one network: it trains in ``batches``
  mode afterwards.

``auto`` (the default) takes ``folds`` when the protocol has at least one unit per rank and
the model has at most :data:`SMALL_MODEL` parameters, else ``batches``.

Checkpoints: a fold trained alone checkpoints every epoch into its own folder
(``checkpoint/<split>-m<member>/``, written by the rank training it); the run's checkpoint
records it as finished once gathered. A resume, on any number of processes and in either
mode, continues such a fold from its folder.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from typing import Any

from memo.models.registry import create_model
from memo.trainer import distributed
from memo.trainer.checkpoint import Checkpoint
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared
from memo.trainer.protocols import Split

log = logging.getLogger(__name__)

#: Largest model (parameters) ``--distribute auto`` spreads by folds: 5 M fp32 parameters are
#: 20 MB of gradients to all-reduce every step, past which DDP's overlap of the all-reduce with
#: the backward pass pays; below it a step is short and mostly communication. A rule of thumb,
#: not a measured crossover (no GPU here; on this 2-core CPU see docs/training.md).
SMALL_MODEL = 5_000_000

# (split, fold number, phase, member seed, the unit's checkpoint) -> the unit's result
FitUnit = Callable[[Split, int, str, int, Checkpoint], dict[str, Any]]


def parameter_count(prepared: Prepared) -> int | None:
    """Parameters of the model the run trains (None when the recipe has no spec)."""
    spec = prepared.spec
    if spec is None:
        return None
    model = create_model(spec.architecture, **spec.arch_args)
    return sum(p.numel() for p in model.parameters())


def mode_for(options: TrainOptions, prepared: Prepared) -> str:
    """``batches`` or ``folds``: how this run's cross-validation is spread over the ranks."""
    world = distributed.world()
    if not world.active:
        return "batches"  # one process: both are the same
    if options.distribute != "auto":
        return options.distribute
    units = len(prepared.splits) * options.ensemble
    if units < world.size:
        return "batches"
    params = parameter_count(prepared)
    chosen = "folds" if params is not None and params <= SMALL_MODEL else "batches"
    if world.main:
        log.info("--distribute auto: %s (%d fold networks, %s parameters)", chosen, units, params)
    return chosen


def unit_checkpoint(ckpt: Checkpoint, phase: str, writer: bool) -> Checkpoint:
    """The checkpoint of one fold network trained alone (loaded when a previous attempt left it)."""
    unit = Checkpoint(ckpt.folder / phase.replace("/", "-"), writer=writer)
    if unit.exists():
        unit.load()
    return unit


def checkpoint_for(ckpt: Checkpoint, phase: str) -> Checkpoint:
    """Where a fold network trained by every rank resumes: its own folder when it was started
    alone (a ``folds`` run resumed in ``batches`` mode), else the run's checkpoint."""
    unit = ckpt.folder / phase.replace("/", "-")
    return unit_checkpoint(ckpt, phase, ckpt.writer) if unit.is_dir() else ckpt


def finish(ckpt: Checkpoint, phase: str, result: dict[str, Any]) -> None:
    """Record a finished fold network in the run's checkpoint, then drop its own folder."""
    ckpt.complete(phase, result)
    if ckpt.writer:
        shutil.rmtree(ckpt.folder / phase.replace("/", "-"), ignore_errors=True)


def train_folds_over_ranks(
    splits: list[Split],
    options: TrainOptions,
    ckpt: Checkpoint,
    fit_unit: FitUnit,
    seed_of: Callable[[int, int], int],
) -> None:
    """Train every unfinished ``(split, member)`` on one rank each; afterwards every rank's
    ``ckpt`` holds all of them as finished (the main rank has written it)."""
    world = distributed.world()
    pending = [
        (number, split, m)
        for number, split in enumerate(splits)
        for m in range(options.ensemble)
        if ckpt.completed(f"{split.name}/m{m}") is None
    ]
    mine: dict[str, dict[str, Any]] = {}
    with distributed.alone():
        for number, split, m in pending[world.rank :: world.size]:
            phase = f"{split.name}/m{m}"
            unit = unit_checkpoint(ckpt, phase, writer=True)
            mine[phase] = fit_unit(split, number, phase, seed_of(m, number), unit)
    distributed.wait_for_each_other()  # a rank with one more fold to train than the others
    gathered: dict[str, dict[str, Any]] = {}
    for share in distributed.gather(mine):
        gathered.update(share)
    for _, split, m in pending:
        phase = f"{split.name}/m{m}"
        finish(ckpt, phase, gathered[phase])
