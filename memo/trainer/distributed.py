"""Training across processes: the process group torchrun describes, and the few collectives the
video loop needs.

A run is distributed when torchrun (``memo train --nproc-per-node N``, or ``torchrun -m memo
train ...`` started by the user or a scheduler) set ``WORLD_SIZE`` > 1 in the environment;
:func:`joined` joins that group for the run (NCCL on CUDA, gloo on CPU) and leaves it after.
Every rank runs the whole recipe in lockstep: the same splits, the same phases, each network
wrapped in DistributedDataParallel, each rank reading its share of every epoch
(:class:`memo.trainer.video_fit.RankShare`). Only the main rank (0) writes: the run directory,
the checkpoint, the bundle and the report.

Why the same seed and global batch give the same result on any number of processes, up to
floating-point order: every rank draws the epoch's order one process would draw (from the run's
seeded, checkpointed generator) and rank ``r`` takes every ``W``-th item of it, so batch ``k``
of all ranks together holds the same items as batch ``k`` of one process; augmentation is
seeded by (seed, epoch, item); the gradient all-reduce averages the ranks' mean gradients, which
equals the mean over the global batch when the ranks' batches are equally long. What differs:
the order of the additions (about 1e-7 relative per step), BatchNorm statistics (per rank's
batch: SyncBatchNorm is CUDA-only and not used, see docs/training.md), dropout masks, and the
padded repeats of the last batch when the items do not divide by ``W``.

Restarts (``torchrun --max-restarts``): a restarted worker resumes from the run's checkpoint
(:func:`restarted`). Its group meets again in the store the elastic agent keeps for the whole
job: on one node each attempt's keys get their own prefix (:func:`_group_store`), or the new
workers could read the dead ones' gloo addresses and try to connect to them until the timeout
(the hang a restart test once met). Every collective has a timeout (``--dist-timeout``), so a peer
that vanishes cannot hold the others forever; the waits where one rank works alone (rank 0
filling the frame cache, writing the report) go through a second, patient group.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from memo.errors import InputError

log = logging.getLogger(__name__)

#: How long the other ranks wait while one works alone (rank 0 decoding every video into the
#: frame cache, assembling the bundle and the report): the collectives' timeout is far shorter.
PATIENT = timedelta(hours=24)


@dataclass(frozen=True)
class World:
    """This process's place in the run: ``rank`` of ``size`` processes, ``local_rank`` on its node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


_current = World()
_patient: Any = None  # the gloo group of the one-sided waits (see PATIENT)


def world() -> World:
    """The world of the run in progress (one process outside :func:`joined`)."""
    return _current


def from_environment() -> World:
    """The world torchrun describes in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (one process if unset)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise InputError(f"torchrun environment: {exc}") from None
    return World(rank, size, local) if size > 1 else World()


def device_for(device: str, env: World) -> str:
    """The device of this rank: ``cuda`` becomes ``cuda:<local rank>``."""
    return f"cuda:{env.local_rank}" if env.active and device == "cuda" else device


def restarted() -> bool:
    """Whether torchrun restarted this worker (``--max-restarts``): the run then resumes."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0


@contextmanager
def joined(device: str, timeout_s: float = 600.0) -> Iterator[World]:
    """Join the process group of the environment (if any) for the duration of a run.

    ``timeout_s`` bounds every collective (and the group's connection): a rank whose peer
    vanished fails with gloo's or NCCL's timeout error instead of waiting forever."""
    global _current, _patient
    env = from_environment()
    if not env.active:
        yield env
        return
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(env.local_rank)
    owned = not dist.is_initialized()
    timeout = timedelta(seconds=timeout_s)
    if owned:
        store = _group_store(env, timeout)
        backend = "nccl" if cuda else "gloo"
        if store is None:
            dist.init_process_group(backend, timeout=timeout)
        else:
            dist.init_process_group(backend, store=store, rank=env.rank, world_size=env.size, timeout=timeout)
    _patient = dist.new_group(backend="gloo", timeout=max(timeout, PATIENT))
    _current = env
    try:
        yield env
    finally:
        _current, _patient = World(), None
        if owned:
            dist.destroy_process_group()


def _group_store(env: World, timeout: timedelta) -> Any:
    """The store this attempt's group meets in, or None for torch's own ``env://``.

    torchrun's agent keeps one TCP store for the whole job (``TORCHELASTIC_USE_AGENT_STORE``)
    and torch does not tell the attempts apart in it: after a restart, the new gloo workers can
    read the dead workers' addresses there and try to connect to them until the timeout. On one
    node the agent's restart count names the attempt, so each attempt gets its own prefix. Across
    nodes the counts differ (only the failed node's agent counts the restart), so memo's launcher
    sets ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1`` there instead (a fresh store per attempt)."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    if os.environ.get("GROUP_WORLD_SIZE", "1") != "1":
        if int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0") or 0) > 0 and env.main:
            log.warning(
                "torchrun --max-restarts over several nodes with the agent's shared store: a restart "
                "may fail to connect; export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 (memo's launcher does)"
            )
        return None
    store, _, _ = next(dist.rendezvous("env://", timeout=timeout))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"memo/attempt{attempt}", store)


@contextmanager
def alone() -> Iterator[None]:
    """Run the body as one process (no DDP, no collectives), e.g. a whole fold on one rank."""
    global _current
    saved, _current = _current, World()
    try:
        yield
    finally:
        _current = saved


def check_world(options: Any, size: int, vector_head: bool) -> None:
    """The options a run on ``size`` processes needs, checked before any work."""
    if size < 1:
        raise InputError(f"--nproc-per-node x --nnodes must be at least 1 (got {size})")
    if size == 1:
        return
    if vector_head:
        raise InputError(
            f"--model {options.model} trains single-process: a vector head trains in seconds, "
            "drop --nproc-per-node (distributed training is for the video models)"
        )
    batch = options.fit.batch_size
    if batch % size:
        raise InputError(
            f"--batch-size {batch} is the global batch and must divide by the {size} processes "
            f"(each takes batch / processes); try {max(size, batch // size * size)}"
        )
    if batch // size < 2:
        raise InputError(f"--batch-size {batch} over {size} processes leaves fewer than 2 videos per process")
    protocol = options.folds or options.fold_file
    if options.distribute == "folds" and not protocol and options.ensemble == 1:
        raise InputError(
            "--distribute folds deals the folds' networks out to the processes: it needs --folds K "
            "or --fold-file (or --ensemble > 1); with one split, use --distribute batches"
        )


# ---------------------------------------------------------------- collectives (no-ops on one process)


def wrap(model: nn.Module, device: torch.device, partial: bool) -> nn.Module:
    """``model`` in DistributedDataParallel when the run is distributed, else ``model`` itself.

    ``partial``: the loss may not reach every parameter (a stage that trains one head of
    several, as VMemNet's), so DDP must look for the unused ones (an extra graph traversal)."""
    if not _current.active:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=partial)


def mean_across(value: float) -> float:
    """The mean of ``value`` over the ranks."""
    if not _current.active:
        return value
    nccl = dist.get_backend() == "nccl"  # NCCL reduces GPU tensors only
    tensor = torch.tensor([value], dtype=torch.float64, device="cuda" if nccl else "cpu")
    dist.all_reduce(tensor)
    return float(tensor.item()) / _current.size


def sync_buffers(model: nn.Module) -> None:
    """Every rank takes rank 0's buffers (BatchNorm running statistics), so evaluation agrees."""
    if not _current.active:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer, 0)


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a picklable object made by memo itself)."""
    if not _current.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, 0)
    return box[0]


def gather(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order."""
    if not _current.active:
        return [value]
    out: list[Any] = [None] * _current.size
    dist.all_gather_object(out, value)
    return out


def wait_for_each_other() -> None:
    """A barrier where the others may wait long while one rank works alone (see PATIENT)."""
    if _current.active:
        dist.barrier(group=_patient)
