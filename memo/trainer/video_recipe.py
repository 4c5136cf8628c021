"""The ``video`` recipe: the architectures trained end to end on decoded frames.

A model is trained by this recipe when its registry entry says ``recipe="video"``; nothing
else names it. The steps of :mod:`memo.trainer.recipe_api`, for a network trained end to end:

1. check options (:func:`memo.trainer.video_options.check_video_options`);
2. prepare: load and check the dataset, build the spec (``default_spec(**model_args)``),
   decode every video once into the :class:`~memo.data.frame_cache.FrameCache` (under
   ``<cache-dir>/frames``); a file that fails to decode is a ``--check`` problem, and in
   a training run it is dropped with a warning naming it;
3. fit one member (:func:`train_network`) with :func:`~memo.trainer.video_fit.fit_video`
   (early stopping on the inner validation split), predicting held-out videos with a centre
   crop, as ``memo score``; the protocol and the final network are the trainer's;
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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memo.data.datasets import check_dataset
from memo.data.frame_cache import FrameCache
from memo.data.text import default_cache_dir
from memo.errors import InputError
from memo.models.bundle import Bundle, save_bundle
from memo.models.registry import create_model, get_entry
from memo.models.spec import ModelSpec
from memo.trainer.checkpoint import Checkpoint
from memo.trainer.crossval import CrossValResult
from memo.trainer.engine import FitConfig, FitState, make_optimizer
from memo.trainer.final import FinalResult
from memo.trainer.metrics import evaluate
from memo.trainer.options import TrainOptions
from memo.trainer.prepare import Prepared, ProgressFn, Vectors, load_dataset, make_splits, stage_counts
from memo.trainer.report import metrics, write_outputs, write_predictions
from memo.trainer.video_fit import VideoFitOptions, VideoSplit, fit_video, predict_shared, predict_videos
from memo.trainer.video_options import build_spec, check_video_options, frame_decoder, stage_plan

log = logging.getLogger(__name__)


@dataclass
class VideoPrepared(Prepared):
    """The checked data, the spec and the frame cache every network of the run reads."""

    cache: FrameCache | None = None
    dropped: dict[str, str] = field(default_factory=dict)  # video path -> why it was dropped

    @property
    def paths(self) -> list[str]:
        assert self.data.videos is not None
        return [str(v) for v in self.data.videos]

    @property
    def model_spec(self) -> ModelSpec:
        assert self.spec is not None
        return self.spec

    @property
    def frames(self) -> FrameCache:
        assert self.cache is not None
        return self.cache


# ---------------------------------------------------------------- step 1: prepare


def prepare_video(options: TrainOptions, progress: ProgressFn | None = None) -> VideoPrepared:
    """Load, check and cache the dataset; with ``options.check`` undecodable files are problems."""
    spec = build_spec(options.model, options.model_args)
    data = load_dataset(options)
    streams = _streams(spec)
    report = check_dataset(data, options.targets, streams)
    root = (options.cache_dir or _default_cache()) / "frames" / spec.name
    cache = FrameCache(root, spec, _cache_bytes(options), decoder=frame_decoder(options))
    prepared = VideoPrepared(data, report, spec=spec, cache=cache)
    if not report.ok:
        if options.check:
            return prepared
        raise InputError(f"{options.data}: " + "; ".join(report.problems) + " (run with --check for details)")
    if not options.check:
        make_splits(data, options)  # a protocol that cannot split these items fails before any decoding
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
        prepared.dropped = errors
    report.notes.append(f"frame cache: {root} ({cache.size_bytes() / 1e6:.1f} MB)")
    if options.test is not None and not options.check:
        prepared.test_data = _test_set(options, cache, progress)
    return prepared


def _cache_bytes(options: TrainOptions) -> int | None:
    return None if options.frame_cache_gb is None else int(options.frame_cache_gb * 1e9)


def _streams(spec: ModelSpec) -> list[str]:
    """The input kinds check_dataset checks: video files, and features where the spec reads them."""
    return ["keyframes"] + (["features"] if any(i.stream == "features" for i in spec.inputs) else [])


def _default_cache() -> Path:
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
    errors = cache.fill(
        paths, workers=max(1, options.workers), on_done=stage_counts(progress, stage, "videos")
    )
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


# ---------------------------------------------------------------- step 3: networks


def _split(prepared: VideoPrepared, index: np.ndarray, target: str) -> VideoSplit:
    return video_split(prepared.frames, prepared.model_spec, prepared.data, index, target)


def video_split(cache: FrameCache, spec: ModelSpec, data: Any, index: np.ndarray, target: str) -> VideoSplit:
    """The videos of ``index``; a ``features`` input (VMemNet's precomputed dynamic vector) comes along."""
    assert data.videos is not None
    vectors = {i.name: data.features[index] for i in spec.inputs if i.stream == "features"}
    return VideoSplit(cache, [str(data.videos[i]) for i in index], data.targets[target][index], vectors)


def build_network(options: TrainOptions, spec: ModelSpec) -> torch.nn.Module:
    """A fresh network of ``spec``, starting from the weights its registry entry names (if any)
    and the trunk's ``--backbone-weights``."""
    extra = {"backbone_weights": str(options.backbone_weights)} if options.backbone_weights else {}
    try:
        model = create_model(spec.architecture, **spec.arch_args, **extra)
    except TypeError as exc:
        raise InputError(f"--model {options.model}: {exc}") from None
    initial = get_entry(spec.architecture).initial_weights
    if initial is not None:  # e.g. resmem: fine-tuned from the package's published weights
        initial(model)
    return model


def _fit_options(
    options: TrainOptions, spec: ModelSpec, heads: tuple[Any, ...], seed: int
) -> VideoFitOptions:
    return VideoFitOptions(
        heads, spec.outputs[0].name, options.accumulate, options.workers, options.augment, seed
    )


def train_network(
    phase: str, options: TrainOptions, prepared: VideoPrepared, fit_index: np.ndarray,
    val_index: np.ndarray | None, cfg: FitConfig, seed: int, ckpt: Checkpoint,
    on_epoch: Callable[[FitState], None] | None = None,
) -> tuple[torch.nn.Module, FitState]:  # fmt: skip
    """One network through every stage of its recipe, resuming from ``ckpt`` where it stopped."""
    target, spec = options.targets[0], prepared.model_spec
    train = _split(prepared, fit_index, target)
    val = _split(prepared, val_index, target) if val_index is not None and val_index.size >= 2 else None
    loss = options.fit.loss if options.fit.loss != FitConfig().loss else None
    stages = stage_plan(spec, cfg, loss)
    torch.manual_seed(seed)
    model = build_network(options, spec).to(cfg.device)
    generator = torch.Generator().manual_seed(seed)
    current = ckpt.data.get("current") or {}
    done = int(current["fit"]["epoch"]) if current.get("phase") == phase else 0
    first = next((i for i, s in enumerate(stages) if s.end_epoch >= max(done, 1)), len(stages) - 1)
    state: FitState | None = None
    best: dict[str, torch.Tensor] | None = None
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
            model, spec, train, val, replace(cfg, epochs=stage.end_epoch),
            _fit_options(options, spec, stage.heads, seed), generator, optimizer, state, best,
            save=lambda m, o, s, b, g: ckpt.save_epoch(phase, m, o, s, b, g), on_epoch=on_epoch,
        )  # fmt: skip
        if state.stopped:
            break
    assert state is not None and best is not None
    model.load_state_dict(best)
    return model, state


# ---------------------------------------------------------------- steps 4 and 5: bundle, report


def assemble_video_bundle(
    options: TrainOptions, prepared: VideoPrepared, final: FinalResult, folder: Path
) -> Bundle:
    trained = {"target": options.targets[0], "dataset": options.dataset, "items": len(prepared.data)}
    spec = prepared.model_spec
    spec = spec.with_(metadata={**spec.metadata, "trained": trained})
    bundle = save_bundle(folder, spec, final.members[0])
    bundle.build_module()  # the saved bundle must load strictly; fail here, not at scoring time
    return bundle


def report_video(
    out: Path, options: TrainOptions, prepared: VideoPrepared, crossval: CrossValResult, final: FinalResult,
    bundle: Bundle, seconds: float,
) -> dict[str, Any]:  # fmt: skip
    spec = prepared.model_spec
    result = metrics(options, prepared, crossval, final)
    result["model"] = {"architecture": spec.architecture, "arch_args": spec.arch_args}
    result["dropped_videos"] = prepared.dropped
    target = options.targets[0]
    if prepared.test_data is not None:
        test_index = np.arange(len(prepared.test_data))
        test = video_split(prepared.frames, spec, prepared.test_data, test_index, target)
        pred = predict_videos(bundle.build_module(), spec, test, options.fit.batch_size, "cpu")
        values = pred[spec.outputs[0].name].astype(np.float64)
        result["test"] = {target: evaluate(values, test.target)}
        write_predictions(out / "predictions_test.csv", prepared.test_data, {target: values}, options.targets)
    return write_outputs(out, options, prepared, crossval, final, result, seconds)


class VideoRecipe:
    """One network per bundle, trained end to end on frames from the frame cache."""

    name = "video"
    speed_unit: str | None = "clips_per_second"

    def check_options(self, options: TrainOptions) -> None:
        check_video_options(options)

    def prepare(self, options: TrainOptions, progress: ProgressFn | None) -> Prepared:
        return prepare_video(options, progress)

    def build(self, prepared: Prepared, options: TrainOptions, progress: ProgressFn | None) -> None:
        assert isinstance(prepared, VideoPrepared)
        prepared.splits = make_splits(prepared.data, options)
        prepared.vectors = Vectors({}, None, {}, {"videos_cached": float(len(prepared.paths))})

    def fit_member(
        self, phase: str, options: TrainOptions, prepared: Prepared, fit_index: np.ndarray,
        val_index: np.ndarray | None, cfg: FitConfig, seed: int, ckpt: Checkpoint,
        on_epoch: Callable[[FitState], None] | None = None, transform_index: np.ndarray | None = None,
    ) -> tuple[torch.nn.Module, FitState]:  # fmt: skip
        assert isinstance(prepared, VideoPrepared)
        return train_network(phase, options, prepared, fit_index, val_index, cfg, seed, ckpt, on_epoch)

    def predict(
        self, model: torch.nn.Module, options: TrainOptions, prepared: Prepared, index: np.ndarray
    ) -> dict[str, np.ndarray]:
        assert isinstance(prepared, VideoPrepared)
        target, spec, fit = options.targets[0], prepared.model_spec, options.fit
        split = _split(prepared, index, target)
        pred = predict_shared(model, spec, split, fit.batch_size, fit.device, options.workers)
        return {target: pred[spec.outputs[0].name]}

    def member_weights(self, model: torch.nn.Module, options: TrainOptions) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}

    def assemble(self, options: TrainOptions, prepared: Prepared, final: FinalResult, folder: Path) -> Bundle:
        assert isinstance(prepared, VideoPrepared)
        return assemble_video_bundle(options, prepared, final, folder)

    def report(
        self, out: Path, options: TrainOptions, prepared: Prepared, crossval: CrossValResult, final: FinalResult,
        bundle: Bundle, seconds: float,
    ) -> dict[str, Any]:  # fmt: skip
        assert isinstance(prepared, VideoPrepared)
        return report_video(out, options, prepared, crossval, final, bundle, seconds)
