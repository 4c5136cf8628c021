"""``memo train --model NAME`` for the video architectures: the recipe's steps on decoded frames.

The same five steps as :mod:`memo.trainer.recipe`, for a network trained end to end:

1. prepare: load and check the dataset, build the spec (``default_spec(**model_args)``),
   decode every video once into the :class:`~memo.data.frame_cache.FrameCache` (under
   ``<cache-dir>/frames``); a file that fails to decode is a ``--check`` problem, and in
   a training run it is dropped with a warning naming it;
2. protocol (:mod:`memo.trainer.protocols`): per split, one network trained with
   :func:`~memo.trainer.video_fit.fit_video` (early stopping on the inner validation split),
   then it predicts the held-out videos (centre crop, as ``memo score``);
3. final: one network on all items for the protocol's best epoch count;
4. bundle: ``save_bundle`` with the spec (``memo score -m RUN/bundle`` reads it);
5. report: ``metrics.json``, ``predictions.csv`` and plots through :mod:`memo.trainer.report`.

Training follows the spec's stages (:func:`memo.trainer.video_options.stage_plan`): each
stage sets what trains (``set_stage``) and gets a fresh optimizer at ``--lr`` times the
stage's rate relative to the first stage's. One checkpoint phase per network covers all its
stages: on ``--resume`` the stage is the one that holds the last finished epoch, so a
resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memo.data.datasets import check_dataset
from memo.data.frame_cache import FrameCache
from memo.errors import InputError
from memo.models.bundle import Bundle, save_bundle
from memo.models.spec import ModelSpec
from memo.trainer.checkpoint import Checkpoint
from memo.trainer.crossval import CrossValResult, EpochHook, member_seed
from memo.trainer.engine import FitConfig, FitState, make_optimizer
from memo.trainer.final import FINAL_SEED, FinalResult, final_config
from memo.trainer.metrics import evaluate
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared, ProgressFn, Vectors, _counts, load_dataset, make_splits
from memo.trainer.protocols import inner_val
from memo.trainer.video_fit import VideoFitOptions, VideoSplit, fit_video, predict_videos
from memo.trainer.video_options import build_spec, stage_plan

log = logging.getLogger(__name__)


@dataclass
class VideoRun:
    prepared: Prepared
    spec: ModelSpec
    cache: FrameCache
    dropped: dict[str, str]  # video path -> why it was dropped

    @property
    def paths(self) -> list[str]:
        assert self.prepared.data.videos is not None
        return [str(v) for v in self.prepared.data.videos]


# ---------------------------------------------------------------- step 1: prepare


def prepare_video(options: TrainOptions, progress: ProgressFn | None = None) -> VideoRun:
    """Load, check and cache the dataset; with ``options.check`` undecodable files are problems."""
    spec = build_spec(options.model, options.model_args)
    data = load_dataset(options)
    streams = _streams(spec)
    report = check_dataset(data, options.targets, streams)
    prepared = Prepared(data, report)
    root = (options.cache_dir or _default_cache()) / "frames" / spec.name
    cache = FrameCache(root, spec, _cache_bytes(options), decoder=_decoder(options))
    if not report.ok:
        if options.check:
            return VideoRun(prepared, spec, cache, {})
        raise InputError(f"{options.data}: " + "; ".join(report.problems) + " (run with --check for details)")
    errors = _fill(cache, data.videos, f"decoding {len(data)} videos into the frame cache", options, progress)
    if errors and options.check:
        report.problems.extend(errors.values())
    elif errors:
        for error in errors.values():
            log.warning("dropped (cannot decode): %s", error)
        keep = [i for i, v in enumerate(data.videos or []) if str(v) not in errors]
        if len(keep) < 4:
            raise InputError(
                f"{options.data}: only {len(keep)} decodable videos; " + next(iter(errors.values()))
            )
        prepared.data = data.subset(keep)
    report.notes.append(f"frame cache: {root} ({cache.size_bytes() / 1e6:.1f} MB)")
    if options.test is not None and not options.check:
        prepared.test_data = _test_set(options, cache, progress)
    return VideoRun(prepared, spec, cache, errors)


def _cache_bytes(options: TrainOptions) -> int | None:
    return None if options.frame_cache_gb is None else int(options.frame_cache_gb * 1e9)


def _decoder(options: TrainOptions):  # type: ignore[no-untyped-def]
    """The frame cache's decoder, resolved (and refused when unknown or not installed) up front."""
    from memo.data.decoders import resolve_decoder
    from memo.runtime.base import resolve_device

    return resolve_decoder(options.decoder, resolve_device(options.fit.device))


def _streams(spec: ModelSpec) -> list[str]:
    """The input kinds check_dataset checks: video files, and features where the spec reads them."""
    return ["keyframes"] + (["features"] if any(i.stream == "features" for i in spec.inputs) else [])


def _default_cache() -> Path:
    from memo.data.text import default_cache_dir

    return default_cache_dir()


def _fill(
    cache: FrameCache,
    videos: list[Any] | None,
    stage: str,
    options: TrainOptions,
    progress: ProgressFn | None,
) -> dict[str, str]:
    paths = [str(v) for v in videos or []]
    started = time.perf_counter()
    errors = cache.fill(paths, workers=max(1, options.workers), on_done=_counts(progress, stage, "videos"))
    log.info("%s: %.1f s, %d failed", stage, time.perf_counter() - started, len(errors))
    return errors


def _test_set(options: TrainOptions, cache: FrameCache, progress: ProgressFn | None):  # type: ignore[no-untyped-def]
    assert options.test is not None
    data = load_dataset(options, options.test)
    report = check_dataset(data, options.targets, _streams(cache.spec))
    if not report.ok:
        raise InputError(f"{options.test}: " + "; ".join(report.problems))
    errors = _fill(cache, data.videos, "decoding the --test videos", options, progress)
    if errors:
        raise InputError(f"{options.test}: cannot decode {next(iter(errors.values()))}")
    return data


# ---------------------------------------------------------------- steps 2 and 3: networks


def _split(run: VideoRun, index: np.ndarray, target: str) -> VideoSplit:
    return video_split(run.cache, run.spec, run.prepared.data, index, target)


def video_split(cache: FrameCache, spec: ModelSpec, data: Any, index: np.ndarray, target: str) -> VideoSplit:
    """The videos of ``index``; a ``features`` input (VMemNet's precomputed dynamic vector) comes along."""
    assert data.videos is not None
    vectors = {i.name: data.features[index] for i in spec.inputs if i.stream == "features"}
    return VideoSplit(cache, [str(data.videos[i]) for i in index], data.targets[target][index], vectors)


def build_network(options: TrainOptions, spec: ModelSpec) -> torch.nn.Module:
    from memo.models.registry import create_model

    extra = {"backbone_weights": str(options.backbone_weights)} if options.backbone_weights else {}
    try:
        model = create_model(spec.architecture, **spec.arch_args, **extra)
    except TypeError as exc:
        raise InputError(f"--model {options.model}: {exc}") from None
    if spec.architecture == "resmem":  # fine-tuned from the resmem package's published weights
        from memo.models.named import resolve_model

        model.load_state_dict(resolve_model("resmem").state_dict())
    return model


def _fit_options(
    options: TrainOptions, spec: ModelSpec, heads: tuple[Any, ...], seed: int
) -> VideoFitOptions:
    return VideoFitOptions(
        heads, spec.outputs[0].name, options.accumulate, options.workers, options.augment, seed
    )


def train_network(
    phase: str, options: TrainOptions, run: VideoRun, fit_index: np.ndarray, val_index: np.ndarray | None,
    cfg: FitConfig, seed: int, ckpt: Checkpoint, hook: EpochHook | None,
) -> tuple[torch.nn.Module, FitState]:  # fmt: skip
    """One network through every stage of its recipe, resuming from ``ckpt`` where it stopped."""
    target = options.targets[0]
    train = _split(run, fit_index, target)
    val = _split(run, val_index, target) if val_index is not None and val_index.size >= 2 else None
    loss = options.fit.loss if options.fit.loss != FitConfig().loss else None
    stages = stage_plan(run.spec, cfg, loss)
    torch.manual_seed(seed)
    model = build_network(options, run.spec).to(cfg.device)
    generator = torch.Generator().manual_seed(seed)
    current = ckpt.data.get("current") or {}
    done = int(current["fit"]["epoch"]) if current.get("phase") == phase else 0
    first = next((i for i, s in enumerate(stages) if s.end_epoch >= max(done, 1)), len(stages) - 1)
    state: FitState | None = None
    best: dict[str, torch.Tensor] | None = None
    on_epoch = hook(phase, cfg.epochs) if hook else None
    for i, stage in enumerate(stages[first:], start=first):
        if hasattr(model, "set_stage"):
            model.set_stage(stage.train)
        optimizer = make_optimizer(model, cfg)
        for group in optimizer.param_groups:
            group["lr_scale"] = stage.lr_scale
        if i == first and done:
            restored = ckpt.restore(phase, model, optimizer, generator)
            assert restored is not None
            state, best = restored
        state, best = fit_video(
            model, run.spec, train, val, replace(cfg, epochs=stage.end_epoch),
            _fit_options(options, run.spec, stage.heads, seed), generator, optimizer, state, best,
            save=lambda m, o, s, b, g: ckpt.save_epoch(phase, m, o, s, b, g), on_epoch=on_epoch,
        )  # fmt: skip
        if state.stopped:
            break
    assert state is not None and best is not None
    model.load_state_dict(best)
    return model, state


def cross_validate_video(
    options: TrainOptions, run: VideoRun, ckpt: Checkpoint, hook: EpochHook | None = None
) -> CrossValResult:
    """Every split of the protocol: train on its training part, predict its held-out videos."""
    data, target = run.prepared.data, options.targets[0]
    result = CrossValResult({target: np.full(len(data), np.nan)}, [], [])
    for number, split in enumerate(run.prepared.splits):
        phase = f"{split.name}/m0"
        done = ckpt.completed(phase)
        if done is None:
            seed = member_seed(options, 0, number)
            fit_index, val_index = inner_val(split.train, options.inner_val, seed)
            model, state = train_network(
                phase, options, run, fit_index, val_index, options.fit, seed, ckpt, hook
            )
            pred = predict_videos(model, run.spec, _split(run, split.test, target), options.fit.batch_size,
                                  options.fit.device, options.workers)[run.spec.outputs[0].name]  # fmt: skip
            done = {"best_epoch": state.best_epoch, "epochs_run": state.epoch, "history": state.history,
                    "predictions": {target: pred.tolist()}}  # fmt: skip
            ckpt.complete(phase, done)
        result.best_epochs.append(int(done["best_epoch"]))
        result.curves[phase] = done["history"]
        pred = np.asarray(done["predictions"][target])
        result.oof[target][split.test] = pred
        result.folds.append({"split": split.name, "n_test": int(split.test.size),
                             target: evaluate(pred, data.targets[target][split.test])})  # fmt: skip
    return result


def train_final_video(
    options: TrainOptions,
    run: VideoRun,
    crossval: CrossValResult,
    ckpt: Checkpoint,
    hook: EpochHook | None = None,
) -> tuple[FinalResult, torch.nn.Module]:
    cfg, rule = final_config(options, crossval)
    all_index = np.arange(len(run.prepared.data))
    seed = options.seed + FINAL_SEED
    val_index: np.ndarray | None = None
    if crossval.best_epochs:
        fit_index = all_index
    else:
        fit_index, val_index = inner_val(all_index, options.inner_val, seed)
    current = ckpt.data.get("current") or {}
    resumed_at = int(current["fit"]["epoch"]) if current.get("phase") == "final/m0" else 0
    started = time.perf_counter()
    model, state = train_network("final/m0", options, run, fit_index, val_index, cfg, seed, ckpt, hook)
    seconds = time.perf_counter() - started
    info: dict[str, Any] = {"epochs": state.epoch, "best_epoch": state.best_epoch}
    if state.epoch > resumed_at:  # training speed, including any per-epoch validation pass
        info["clips_per_second"] = round(fit_index.size * (state.epoch - resumed_at) / seconds, 2)
        info["validated_each_epoch"] = val_index is not None and val_index.size >= 2
    ckpt.complete(
        "final/m0", {"best_epoch": state.best_epoch, "epochs_run": state.epoch, "history": state.history}
    )
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return FinalResult([weights], cfg, rule, [info], {"final/m0": state.history}), model


# ---------------------------------------------------------------- steps 4 and 5: bundle, report


def assemble_video_bundle(options: TrainOptions, run: VideoRun, final: FinalResult, folder: Path) -> Bundle:
    trained = {"target": options.targets[0], "dataset": options.dataset, "items": len(run.prepared.data)}
    spec = run.spec.with_(metadata={**run.spec.metadata, "trained": trained})
    bundle = save_bundle(folder, spec, final.members[0])
    bundle.build_module()  # the saved bundle must load strictly; fail here, not at scoring time
    return bundle


def report_video(
    out: Path, options: TrainOptions, run: VideoRun, crossval: CrossValResult, final: FinalResult,
    bundle: Bundle, seconds: float,
) -> dict[str, Any]:  # fmt: skip
    from memo.trainer.report import metrics, write_outputs, write_predictions

    prepared = run.prepared
    result = metrics(options, prepared, crossval, final)
    result["model"] = {"architecture": run.spec.architecture, "arch_args": run.spec.arch_args}
    result["dropped_videos"] = run.dropped
    target = options.targets[0]
    if prepared.test_data is not None:
        test_index = np.arange(len(prepared.test_data))
        test = video_split(run.cache, run.spec, prepared.test_data, test_index, target)
        pred = predict_videos(bundle.build_module(), run.spec, test, options.fit.batch_size, "cpu")
        values = pred[run.spec.outputs[0].name].astype(np.float64)
        result["test"] = {target: evaluate(values, test.target)}
        write_predictions(out / "predictions_test.csv", prepared.test_data, {target: values}, options.targets)
    return write_outputs(out, options, prepared, crossval, final, result, seconds)


def train_video(options: TrainOptions, ckpt: Checkpoint, progress: ProgressFn | None, started: float) -> Any:
    """The whole video recipe on a run directory opened by :func:`memo.trainer.recipe.open_run`."""
    from memo.trainer.crossval import epoch_hook, phase_plan
    from memo.trainer.recipe import TrainResult, _tensorboard, start_run

    run = prepare_video(options, progress)
    if options.check:
        return TrainResult(options.output, None, {}, run.prepared.report, time.perf_counter() - started)
    start_run(options, ckpt)
    run.prepared.splits = make_splits(run.prepared.data, options)
    run.prepared.vectors = Vectors({}, None, {}, {"videos_cached": float(len(run.paths))})
    tb = _tensorboard(options.output) if options.tensorboard else None
    hook = epoch_hook(phase_plan(run.prepared.splits, options), progress, tb)
    crossval = cross_validate_video(options, run, ckpt, hook)
    final, _ = train_final_video(options, run, crossval, ckpt, hook)
    bundle = assemble_video_bundle(options, run, final, options.output / "bundle")
    metrics = report_video(
        options.output, options, run, crossval, final, bundle, time.perf_counter() - started
    )
    if tb is not None:
        tb.close()
    return TrainResult(
        options.output, bundle.path, metrics, run.prepared.report, time.perf_counter() - started
    )
