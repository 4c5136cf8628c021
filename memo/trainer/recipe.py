"""``memo train``: a plain recipe (torchtune style) from a labelled dataset to a bundle.

The model's registry entry names its recipe (:mod:`memo.trainer.recipe_api`: ``vector-head``
for the fusion head, ``m3s``, ``video`` for the networks trained on frames); this module
runs any recipe through the same steps:

1. :func:`memo.trainer.options.validate` — every option checked before any work, the
   recipe's own checks included (:meth:`Recipe.check_options`);
2. :meth:`Recipe.prepare` — load the dataset and check it (``--check`` stops here), then
   :meth:`Recipe.build` — the inputs (per-item vectors, a frame cache) and the splits;
3. :func:`memo.trainer.crossval.cross_validate` — for each split (k folds, a fold file, or one
   holdout), train ``ensemble`` members (:meth:`Recipe.fit_member`) with early stopping on a
   seeded inner validation split of the training items, and predict the held-out items;
   :func:`memo.trainer.final.train_final` — the final members on *all* labelled items for
   the fold-averaged best number of epochs (without a protocol: early stopping instead);
4. :meth:`Recipe.assemble` — the final members as one bundle, loaded back strictly;
5. :meth:`Recipe.report` — evaluate ``--test``; write ``metrics.json``,
   ``predictions.csv`` (``predictions_test.csv``) and plots.

This module owns the run directory: its resume policy, ``options.json`` and the checkpoint.
Every epoch is checkpointed; ``resume`` continues exactly where a killed run stopped.

Under torchrun (:mod:`memo.trainer.distributed`) every rank runs these steps in lockstep: the
main rank opens the run directory and hands the resolved options and checkpoint state to the
others, fills the frame cache while they wait (then they read it), and alone writes the
checkpoint, the bundle and the report.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from memo.data.datasets import CheckReport
from memo.errors import MissingDependency
from memo.fsio import atomic_write_json
from memo.trainer import distributed
from memo.trainer.checkpoint import Checkpoint
from memo.trainer.crossval import cross_validate, epoch_hook, phase_plan
from memo.trainer.engine import resolved
from memo.trainer.final import train_final
from memo.trainer.options import RECORD, TrainOptions, check_run_directory, recorded, validate
from memo.trainer.prepare import ProgressFn
from memo.trainer.recipe_api import recipe_for

log = logging.getLogger(__name__)

# Options that say how to run, not what to compute: a resume may change them freely.
RUN_KEYS = frozenset(
    {"resume", "check", "overwrite", "output", "threads", "plots", "tensorboard", "cache_dir", "workers"}
    | {"dist_timeout", "distribute"}  # several processes: how the work is shared
)


@dataclass
class TrainResult:
    output: Path
    bundle: Path | None
    metrics: dict[str, Any]
    check: CheckReport
    seconds: float


def train(options: TrainOptions, progress: ProgressFn | None = None) -> TrainResult:
    """Run the whole recipe; see the module docstring. Raises :class:`MemoError` on bad input.

    Torch's CPU thread count is set to ``options.threads`` for the run and restored after:
    on a 2-core machine shared with other work, 2 threads made one epoch of the fusion head
    over 7,000 items take 26 s instead of 0.7 s (docs/performance.md).
    """
    if options.fit.device == "auto":  # the process group is joined on the resolved device
        options = replace(options, fit=resolved(options.fit))
    threads = torch.get_num_threads()
    if options.threads > 0:
        torch.set_num_threads(options.threads)
    if distributed.restarted():  # torchrun --max-restarts restarted the group: continue, never wipe
        options = replace(options, resume=True, overwrite=False)
    try:
        with distributed.joined(options.fit.device, options.dist_timeout) as world:
            if world.active:
                distributed.check_world(options, world.size, recipe_for(options.model).name != "video")
            return _run(options, progress if world.main else None)
    finally:
        torch.set_num_threads(threads)


def _on_rank_device(options: TrainOptions, world: distributed.World) -> TrainOptions:
    """This rank's copy of the options, on its own GPU (``cuda`` -> ``cuda:<local rank>``)."""
    device = distributed.device_for(options.fit.device, world)
    return replace(options, fit=replace(options.fit, device=device))


def _run(options: TrainOptions, progress: ProgressFn | None) -> TrainResult:
    started = time.perf_counter()
    validate(options)
    options, ckpt = _open_shared(options)
    recipe = recipe_for(options.model)
    prepared = _prepare_shared(recipe, options, progress)
    if options.check:
        return TrainResult(options.output, None, {}, prepared.report, time.perf_counter() - started)
    out = options.output
    if ckpt.writer:
        start_run(options, ckpt)
    recipe.build(prepared, options, progress)
    tb = tensorboard_writer(out) if options.tensorboard and ckpt.writer else None
    hook = epoch_hook(phase_plan(prepared.splits, options), progress, tb)
    crossval = cross_validate(recipe, options, prepared, ckpt, hook)
    final = train_final(recipe, options, prepared, crossval, ckpt, hook)
    if not distributed.world().main:  # the main rank assembles and reports
        distributed.wait_for_each_other()
        return TrainResult(out, None, {}, prepared.report, time.perf_counter() - started)
    bundle = recipe.assemble(options, prepared, final, out / "bundle")
    metrics = recipe.report(out, options, prepared, crossval, final, bundle, time.perf_counter() - started)
    if tb is not None:
        tb.close()
    distributed.wait_for_each_other()
    return TrainResult(out, bundle.path, metrics, prepared.report, time.perf_counter() - started)


def _open_shared(options: TrainOptions) -> tuple[TrainOptions, Checkpoint]:
    """:func:`open_run` on the main rank; the others get its options and checkpoint state."""
    world = distributed.world()
    if not world.active:
        return open_run(options)
    opened = open_run(options) if world.main else None
    shared = distributed.broadcast((opened[0].to_json(), opened[1].data) if opened else None)
    if opened is not None:
        return _on_rank_device(opened[0], world), opened[1]
    ckpt = Checkpoint(options.output / "checkpoint", writer=False)
    ckpt.data = shared[1]
    return _on_rank_device(TrainOptions.from_json(shared[0]), world), ckpt


def _prepare_shared(recipe: Any, options: TrainOptions, progress: ProgressFn | None) -> Any:
    """The recipe's prepare step, the main rank first: it fills the frame cache, the others then
    find every video there (a cache fill is resumable, so theirs only reads)."""
    world = distributed.world()
    if world.main:
        prepared = recipe.prepare(options, progress)
    distributed.wait_for_each_other()
    if not world.main:
        prepared = recipe.prepare(options, progress)
    return prepared


def start_run(options: TrainOptions, ckpt: Checkpoint) -> None:
    """Create the run directory with its ``options.json`` and first checkpoint (once)."""
    if not ckpt.exists():
        options.output.mkdir(parents=True, exist_ok=True)
        atomic_write_json(options.output / RECORD, recorded(options))
        ckpt.write()


def open_run(options: TrainOptions) -> tuple[TrainOptions, Checkpoint]:
    """The run directory's policy: resume from its checkpoint, refuse to mix runs, or start afresh.

    On resume the checkpoint's options win; any option that says *what* is computed and
    differs from them is named in a warning (options that only say how to run may differ).
    """
    out = options.output
    ckpt = Checkpoint(out / "checkpoint")
    if options.resume and ckpt.exists():
        ckpt.load()
        saved = TrainOptions.from_json(ckpt.data["options"])
        validate(saved)
        changed = differing(saved, options)
        if changed:
            log.warning("resuming with the checkpoint's options; ignoring the given %s", ", ".join(changed))
        saved.resume = True
        for key in sorted(RUN_KEYS - {"resume", "check", "overwrite"}):  # how to run: the given values
            setattr(saved, key, getattr(options, key))
        return saved, ckpt
    if not options.check:
        check_run_directory(options)
        if out.exists() and any(out.iterdir()):  # --overwrite
            shutil.rmtree(out)
        ckpt.data["options"] = options.to_json()
    return options, ckpt


def differing(saved: TrainOptions, given: TrainOptions) -> list[str]:
    """The names of the options that change the result and differ between two runs."""
    a, b = recorded(saved), recorded(given)
    names = [k for k in a if k not in RUN_KEYS and k != "fit" and a[k] != b.get(k)]
    names += [f"fit.{k}" for k in a["fit"] if a["fit"][k] != b["fit"].get(k)]
    return names


def tensorboard_writer(out: Path):  # type: ignore[no-untyped-def]
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MissingDependency("tensorboard", "tensorboard", "--tensorboard logging") from None
    return SummaryWriter(str(out / "tensorboard"))
