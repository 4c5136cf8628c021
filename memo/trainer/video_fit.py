"""Training a model end to end on video frames: the frame cache, DataLoader workers, heads.

:func:`fit_video` is the video counterpart of :func:`memo.trainer.engine.fit` (same
:class:`FitConfig`, :class:`FitState`, checkpoint callback and early stopping on validation
Spearman), for architectures whose inputs are frames (``keyframes``/``clip``) and maybe
precomputed vectors (``features``/``text``), whose ``forward`` takes those inputs by name and
returns named outputs. What differs from the vector loop:

* inputs come from a :class:`~memo.data.frame_cache.FrameCache` through a DataLoader, with
  a random crop and flip per video when training (seeded by seed, epoch and item, so a run
  is reproducible with any number of workers and resumes exactly) and the scorer's centre
  crop for validation and prediction;
* a model with several heads (VMemNet: ``spatial`` and ``semantic``) trains each head with
  its own loss (:class:`HeadLoss`) against the same target; the combined ``score`` output is
  what validation ranks;
* models scored per frame (``unit: frame``) are trained on the mean of their frame scores,
  which is how they are scored;
* gradient accumulation; on CUDA bf16 autocast and channels-last memory format;
* on several processes (:mod:`memo.trainer.distributed`) the network trains inside
  DistributedDataParallel, each rank reading ``batch_size / world`` items of every global batch
  (:class:`RankShare`), the train loss averaged over the ranks and validation
  predicted in shards and gathered, so early stopping is decided on the same numbers everywhere.

Every rank draws the epoch's order one process would draw and takes its share, so a run on any
number of processes sees the same global batches (and resumes on any number).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from memo.data.augment import to_input
from memo.data.frame_cache import FrameCache, visual_inputs
from memo.models.spec import ModelSpec
from memo.trainer import distributed
from memo.trainer.engine import (
    EpochFn,
    FitConfig,
    FitState,
    SaveFn,
    close_epoch,
    learning_rate,
    make_optimizer,
    resolved,
)
from memo.trainer.losses import LossContext, get_loss
from memo.trainer.metrics import evaluate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadLoss:
    """Train model output ``output`` with loss ``loss`` (a name of :mod:`memo.trainer.losses`)."""

    output: str
    loss: str = "mse"
    weight: float = 1.0


@dataclass(frozen=True)
class VideoFitOptions:
    heads: tuple[HeadLoss, ...] = (HeadLoss("score"),)
    rank_output: str = "score"  # the output validation ranks and the bundle reports
    accumulate: int = 1  # batches per optimizer step
    workers: int = 0  # DataLoader worker processes (0: load in the training process)
    augment: bool = True
    seed: int = 0


@dataclass
class VideoSplit:
    """The items of one split: video paths, one target, and any precomputed vectors."""

    cache: FrameCache
    paths: list[str]
    target: np.ndarray  # (N,) float
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # input name -> (N, dim)

    @property
    def size(self) -> int:
        return len(self.paths)


class VideoItems(Dataset):  # type: ignore[type-arg]
    """One item = the named float inputs of one video (and its index)."""

    def __init__(self, split: VideoSplit, spec: ModelSpec, augment: bool, seed: int) -> None:
        self.split, self.spec, self.augment, self.seed = split, spec, augment, seed
        self.visual = visual_inputs(spec)
        self.epoch = 0

    def __len__(self) -> int:
        return self.split.size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.augment else None
        cached = self.split.cache.load(self.split.paths[index])
        item = {i.name: torch.from_numpy(to_input(cached.frames[i.name], i, rng)) for i in self.visual}
        for name, matrix in self.split.vectors.items():
            item[name] = torch.from_numpy(np.asarray(matrix[index], dtype=np.float32))
        item["__index__"] = torch.tensor(index)
        return item


def forward_videos(
    model: nn.Module, spec: ModelSpec, batch: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """One output value per video, whatever the model's unit (frame models: mean over frames)."""
    inputs = {k: v for k, v in batch.items() if not k.startswith("__")}
    if spec.unit == "video":
        return model(**inputs)
    (name,) = inputs
    frames = inputs[name]  # (B, T, 3, H, W)
    b, t = frames.shape[:2]
    out = model(**{name: frames.reshape(b * t, *frames.shape[2:])})
    reduce = torch.median if spec.aggregate == "median" else torch.mean
    return {k: _reduce(reduce, v.reshape(b, t)) for k, v in out.items()}


def _reduce(fn, values: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    result = fn(values, dim=1)
    return result if isinstance(result, torch.Tensor) else result.values


def _loader(items: VideoItems, batch_size: int, workers: int) -> DataLoader:  # type: ignore[type-arg]
    return DataLoader(items, batch_size=batch_size, shuffle=False, num_workers=workers, drop_last=False)


class RankShare(Sampler[int]):
    """This rank's share of the epoch's shuffled order: every ``world``-th item of it.

    The order is the one a single process draws (a ``RandomSampler`` on the run's seeded,
    checkpointed generator, every rank holding the same generator state), padded with its first
    items to a multiple of ``world`` as ``DistributedSampler`` pads. So batch ``k`` of all
    ranks together holds the items of batch ``k`` of one process, one process trains exactly as
    before, and a resume on another number of processes continues the same sequence.
    (``DistributedSampler`` with ``set_epoch`` would draw a permutation of (seed, epoch) instead:
    the same guarantees across world sizes, but a different order than single-process runs.)
    """

    def __init__(self, items: VideoItems, generator: torch.Generator) -> None:
        self.order = RandomSampler(items, generator=generator)
        self.world = distributed.world()

    def __len__(self) -> int:
        return -(-len(self.order) // self.world.size)

    def __iter__(self) -> Iterator[int]:
        order = list(self.order)
        order += order[: (-len(order)) % self.world.size]
        return iter(order[self.world.rank :: self.world.size])


def _epoch_loader(items: VideoItems, batch_size: int, generator: torch.Generator, workers: int) -> DataLoader:  # type: ignore[type-arg]
    """This rank's batches of one epoch (one process: the whole shuffled epoch)."""
    sampler = RankShare(items, generator)
    return DataLoader(
        items, batch_size=batch_size // sampler.world.size, sampler=sampler, generator=generator,
        num_workers=workers, drop_last=False,
    )  # fmt: skip


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in batch.items():
        v = v.to(device, non_blocking=True)
        if device.type == "cuda" and v.dim() == 4 and v.is_floating_point():
            v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


def predict_videos(
    model: nn.Module, spec: ModelSpec, split: VideoSplit, batch_size: int, device: str, workers: int = 0
) -> dict[str, np.ndarray]:
    """Every output for every video of ``split`` (centre crop, no augmentation)."""
    model.eval()
    items = VideoItems(split, spec, augment=False, seed=0)
    parts: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode():
        for batch in _loader(items, batch_size, workers):
            out = forward_videos(model, spec, _to_device(batch, torch.device(device)))
            for name, value in out.items():
                parts.setdefault(name, []).append(value.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def predict_shared(
    model: nn.Module, spec: ModelSpec, split: VideoSplit, batch_size: int, device: str, workers: int = 0
) -> dict[str, np.ndarray]:
    """:func:`predict_videos` called by every rank of a run together: each predicts every
    ``world``-th video and all get the whole result (one process: :func:`predict_videos`)."""
    world = distributed.world()
    if not world.active:
        return predict_videos(model, spec, split, batch_size, device, workers)
    shard = np.arange(world.rank, split.size, world.size)
    part = VideoSplit(
        split.cache, [split.paths[i] for i in shard], split.target[shard],
        {k: v[shard] for k, v in split.vectors.items()},
    )  # fmt: skip
    mine = predict_videos(model, spec, part, batch_size, device, workers) if shard.size else {}
    out: dict[str, np.ndarray] = {}
    for index, preds in distributed.gather((shard, mine)):
        for name, values in preds.items():
            out.setdefault(name, np.zeros(split.size, dtype=values.dtype))[index] = values
    return out


def validation_record(
    model: nn.Module, spec: ModelSpec, split: VideoSplit, cfg: FitConfig, opts: VideoFitOptions
) -> dict[str, float]:
    preds = predict_shared(model, spec, split, cfg.batch_size, cfg.device, opts.workers)
    record = {}
    for name, values in preds.items():
        record[f"val_{name}_spearman"] = evaluate(values, split.target)["spearman"]
    record["val_spearman"] = record.get(f"val_{opts.rank_output}_spearman", float("nan"))
    return record


def _batch_loss(
    out: Mapping[str, torch.Tensor], target: torch.Tensor, heads: Sequence[HeadLoss], ctx: LossContext
) -> torch.Tensor:
    loss = torch.zeros((), device=target.device)
    for head in heads:
        if head.output not in out:
            raise KeyError(f"the model has no output {head.output!r} (outputs: {', '.join(out)})")
        loss = loss + head.weight * get_loss(head.loss)(out[head.output].float(), target, ctx)
    return loss


def _train_epoch(
    model: nn.Module, spec: ModelSpec, loader: DataLoader, split: VideoSplit,  # type: ignore[type-arg]
    optimizer: torch.optim.Optimizer, cfg: FitConfig, opts: VideoFitOptions, epoch: int,
) -> float:  # fmt: skip
    device = torch.device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    target_all = torch.as_tensor(split.target, dtype=torch.float32)
    mean = float(target_all.mean())
    model.train()
    optimizer.zero_grad(set_to_none=True)
    total, batches, pending = 0.0, 0, 0
    world = distributed.world().size
    trained = distributed.wrap(model, device, len(spec.outputs) > 1 or hasattr(model, "set_stage"))
    for batch in loader:
        batch = _to_device(batch, device)
        if batch["__index__"].numel() * world < 2:  # a global batch of one video (the same on every rank)
            continue
        target = target_all[batch["__index__"].cpu()].to(device)
        syncing = trained is model or pending + 1 == opts.accumulate
        with nullcontext() if syncing else trained.no_sync():  # type: ignore[operator]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                out = forward_videos(trained, spec, batch)
            ctx = LossContext(target_mean=mean, epoch=epoch, epochs=cfg.epochs)
            loss = _batch_loss(out, target, opts.heads, ctx)
            (loss / opts.accumulate).backward()
        pending += 1
        if pending == opts.accumulate:
            _step(model, optimizer, cfg)
            pending = 0
        total += float(loss.detach())
        batches += 1
    if pending:  # DDP: the last accumulated batches were not all-reduced by a syncing backward
        _reduce_gradients(model)
        _step(model, optimizer, cfg)
    distributed.sync_buffers(model)
    return distributed.mean_across(total / max(1, batches))


def _reduce_gradients(model: nn.Module) -> None:
    world = distributed.world()
    if not world.active:
        return
    for p in model.parameters():
        if p.grad is not None:
            torch.distributed.all_reduce(p.grad)
            p.grad /= world.size


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, cfg: FitConfig) -> None:
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def fit_video(
    model: nn.Module,
    spec: ModelSpec,
    train: VideoSplit,
    val: VideoSplit | None,
    cfg: FitConfig,
    opts: VideoFitOptions,
    generator: torch.Generator,
    optimizer: torch.optim.Optimizer | None = None,
    state: FitState | None = None,
    best: dict[str, torch.Tensor] | None = None,
    save: SaveFn | None = None,
    on_epoch: EpochFn | None = None,
) -> tuple[FitState, dict[str, torch.Tensor]]:
    """Train ``model`` on ``train``'s videos; early-stop on ``val`` Spearman of ``opts.rank_output``.

    Same contract as :func:`memo.trainer.engine.fit`: returns the final state and the weights
    to keep; pass ``optimizer``/``state``/``best`` restored from a checkpoint to resume.
    """
    cfg = resolved(cfg)
    device = torch.device(cfg.device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = optimizer or make_optimizer(model, cfg)
    state = state or FitState()
    best = best if best is not None else {k: v.detach().clone() for k, v in model.state_dict().items()}
    items = VideoItems(train, spec, augment=opts.augment, seed=opts.seed)
    while state.epoch < cfg.epochs and not state.stopped:
        epoch = state.epoch
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, epoch) * group.get("lr_scale", 1.0)
        items.epoch = epoch
        loader = _epoch_loader(items, cfg.batch_size, generator, opts.workers)
        loss = _train_epoch(model, spec, loader, train, optimizer, cfg, opts, epoch)
        record: dict[str, float] = {"epoch": epoch + 1, "lr": learning_rate(cfg, epoch), "train_loss": loss}
        state.epoch = epoch + 1
        use_val = val is not None and val.size >= 2
        val_record = validation_record(model, spec, val, cfg, opts) if use_val else None  # type: ignore[arg-type]
        best = close_epoch(model, state, record, val_record, cfg, best)
        log.info("epoch %d: %s", state.epoch, record)
        if save is not None:
            save(model, optimizer, state, best, generator)
        if on_epoch is not None:
            on_epoch(state)
    return state, best
