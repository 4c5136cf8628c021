"""`memo train`: train a model and write a bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from memo.cli.app import app, console, fail
from memo.cli.train_options import (
    AccumulateOpt,
    AlphaWeightOpt,
    AmpOpt,
    AsJsonOpt,
    AugmentOpt,
    BackboneWeightsOpt,
    BatchSizeOpt,
    CacheDirOpt,
    CaptionSamplingOpt,
    CaptionsOpt,
    CheckOpt,
    ConfigOpt,
    DataOpt,
    DecayAlphaOpt,
    DecoderOpt,
    DeviceOpt,
    DistributeOpt,
    DistTimeoutOpt,
    DropoutOpt,
    EnsembleOpt,
    EpochsOpt,
    FeatureRowsOpt,
    FeaturesOpt,
    FinetuneTextOpt,
    FoldFileOpt,
    FoldsOpt,
    FrameCacheGbOpt,
    FramesOpt,
    GammaOpt,
    GradClipOpt,
    HiddenOpt,
    IdColumnOpt,
    InnerValOpt,
    InputKindOpt,
    KindOpt,
    LossOpt,
    LrOpt,
    MaxRestartsOpt,
    ModelArgOpt,
    ModelOpt,
    NnodesOpt,
    NodeRankOpt,
    NprocPerNodeOpt,
    OutputOpt,
    OverwriteOpt,
    PatienceOpt,
    PlotsOpt,
    QuietOpt,
    RankTauOpt,
    RdzvEndpointOpt,
    ResumeOpt,
    ScheduleOpt,
    SeedOpt,
    SplitOpt,
    StepSizeOpt,
    StreamOpt,
    TargetOpt,
    TensorboardOpt,
    TestOpt,
    TextColumnOpt,
    TextEncoderOpt,
    ThreadsOpt,
    ValSplitOpt,
    VideoBackboneOpt,
    VideosOpt,
    WeightDecayOpt,
    WorkersOpt,
)
from memo.cli.train_progress import TrainProgress
from memo.errors import MemoError
from memo.trainer.options import (
    Launch,
    TrainOptions,
    check_launch_flags,
    check_paths,
    check_plain,
    check_run_directory,
    parse_model_args,
    resolve_options,
    under_torchrun,
)

# Command-line parameter -> TrainOptions field (FIT_PARAMS: FitConfig fields of the same name).
PARAM_FIELDS = {
    "kind": "dataset", "data": "data", "output": "output", "target": "targets", "input_kind": "inputs",
    "stream": "inputs", "split": "split", "decay_alpha": "decay_alpha", "folds": "folds",
    "fold_file": "fold_file", "val_split": "val_split", "test": "test", "seed": "seed", "inner_val": "inner_val",
    "model": "model", "model_arg": "model_args", "hidden": "hidden", "dropout": "dropout", "ensemble": "ensemble", "text_encoder": "text_encoder",
    "finetune_text": "finetune_text", "features": "features", "feature_rows": "feature_rows", "videos": "videos",
    "video_backbone": "video_backbone", "backbone_weights": "backbone_weights", "frames": "num_frames",
    "id_column": "id_column", "text_column": "text_columns", "captions": "captions", "check": "check", "resume": "resume",
    "overwrite": "overwrite", "tensorboard": "tensorboard", "plots": "plots", "cache_dir": "cache_dir",
    "threads": "threads", "accumulate": "accumulate", "workers": "workers", "augment": "augment", "decoder": "decoder", "frame_cache_gb": "frame_cache_gb",
    "distribute": "distribute", "dist_timeout": "dist_timeout",
}  # fmt: skip
FIT_PARAMS = (
    "loss", "alpha_weight", "epochs", "batch_size", "lr", "weight_decay", "schedule", "step_size", "gamma",
    "grad_clip", "patience", "caption_sampling", "device", "amp", "rank_tau",
)  # fmt: skip
# Where a value came from, by name: typer >= 0.29 bundles its own click, so the enum class varies.
EXPLICIT = frozenset({"COMMANDLINE", "ENVIRONMENT", "PROMPT"})


@app.command(
    "train",
    short_help="Train a model on labelled videos into a bundle.",
    help=(
        "Train a memorability model on labelled videos and write a bundle, metrics.json and plots to OUTPUT.\n\n"
        "Examples:\n\n"
        "memo train --config configs/videomem-short-text-coco.toml -o runs/vm\n\n"
        "memo train videomem data/videomem-me18 -o runs/vm --input text --target short_term\n\n"
        "memo train memento10k data/memento10k -o runs/m10k --folds 5 --decay-alpha\n\n"
        "memo train csv labels.csv -o runs/mine --target score --text-column caption --check\n\n"
        "memo train ... --model resnet3d --nproc-per-node 2 (or torchrun -m memo train ...) trains a video "
        "model on several processes with DistributedDataParallel (docs/training.md); the vector heads "
        "(fusion-mlp, m3s on tables) train single-process in seconds and refuse the flag. With --folds, "
        "--distribute folds gives each process whole folds (small models: no all-reduce), --distribute "
        "batches trains every network on all processes (large models); auto picks folds for models "
        "of at most 5 M parameters when there are at least as many folds as processes.\n\n"
        "Every epoch is checkpointed; memo train -o RUN --resume continues a killed run exactly "
        "(on any number of processes). "
        "OUTPUT/options.json records the resolved options (a --config file). "
        "Exit status: 0 done, 2 bad options or data (one line saying why)."
    ),
    no_args_is_help=True,
)
def train_command(
    ctx: typer.Context,
    kind: KindOpt = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    output: OutputOpt = Path("runs/train"),
    target: TargetOpt = None,
    input_kind: InputKindOpt = None,
    stream: StreamOpt = None,
    split: SplitOpt = "train",
    loss: LossOpt = "mse",
    decay_alpha: DecayAlphaOpt = False,
    alpha_weight: AlphaWeightOpt = 0.1,
    rank_tau: RankTauOpt = 0.01,
    folds: FoldsOpt = None,
    fold_file: FoldFileOpt = None,
    val_split: ValSplitOpt = None,
    test: TestOpt = None,
    seed: SeedOpt = 0,
    inner_val: InnerValOpt = 0.1,
    epochs: EpochsOpt = 60,
    batch_size: BatchSizeOpt = 128,
    lr: LrOpt = 1e-3,
    weight_decay: WeightDecayOpt = 1e-2,
    schedule: ScheduleOpt = "cosine",
    step_size: StepSizeOpt = 20,
    gamma: GammaOpt = 0.5,
    grad_clip: GradClipOpt = 1.0,
    patience: PatienceOpt = 15,
    model: ModelOpt = "fusion-mlp",
    model_arg: ModelArgOpt = None,
    hidden: HiddenOpt = 256,
    dropout: DropoutOpt = 0.5,
    ensemble: EnsembleOpt = 1,
    caption_sampling: CaptionSamplingOpt = "mean",
    text_encoder: TextEncoderOpt = None,
    finetune_text: FinetuneTextOpt = False,
    features: FeaturesOpt = None,
    feature_rows: FeatureRowsOpt = None,
    videos: VideosOpt = None,
    video_backbone: VideoBackboneOpt = "resmem",
    backbone_weights: BackboneWeightsOpt = None,
    frames: FramesOpt = 7,
    accumulate: AccumulateOpt = 1,
    workers: WorkersOpt = 0,
    augment: AugmentOpt = True,
    decoder: DecoderOpt = "auto",
    frame_cache_gb: FrameCacheGbOpt = None,
    id_column: IdColumnOpt = "path",
    text_column: TextColumnOpt = None,
    captions: CaptionsOpt = None,
    device: DeviceOpt = "auto",
    amp: AmpOpt = True,
    check: CheckOpt = False,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    tensorboard: TensorboardOpt = False,
    plots: PlotsOpt = True,
    cache_dir: CacheDirOpt = None,
    threads: ThreadsOpt = 1,
    quiet: QuietOpt = False,
    as_json: AsJsonOpt = False,
    nproc_per_node: NprocPerNodeOpt = None,
    nnodes: NnodesOpt = 1,
    node_rank: NodeRankOpt = 0,
    rdzv_endpoint: RdzvEndpointOpt = None,
    max_restarts: MaxRestartsOpt = 0,
    distribute: DistributeOpt = "auto",
    dist_timeout: DistTimeoutOpt = 600.0,
) -> None:
    try:
        options = _checked_options(config, _given(ctx, locals()))
        launch = (
            None
            if nproc_per_node is None
            else Launch(nproc_per_node, nnodes, node_rank, rdzv_endpoint, max_restarts)
        )
        if launch is not None:
            check_launch_flags(options, launch)
    except MemoError as exc:
        raise fail(str(exc)) from None
    if launch is not None:
        return _launch(options, launch, quiet, as_json)
    result = _train(options, TrainProgress(console, enabled=not quiet and not as_json and not options.check))
    _render(options, result, quiet, as_json)


def _checked_options(config: Path | None, given: tuple[dict[str, Any], dict[str, Any]]) -> TrainOptions:
    """The resolved options, after every check that needs neither torch nor the model (< 1 s;
    the architecture's own checks follow in :func:`memo.trainer.train`, still before any work)."""
    options = resolve_options(config, *given)
    check_plain(options)
    check_paths(options)
    if not under_torchrun():  # under torchrun the main rank checks OUTPUT when it opens the run
        check_run_directory(options)
    return options


def _render(options, result, quiet: bool, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if options.check:
        _render_check(result.check, as_json)
    if not result.metrics:  # a rank other than 0 under torchrun: rank 0 reports
        return
    if as_json:
        print(json.dumps({"output": str(result.output), "bundle": str(result.bundle),
                          "summary": result.metrics.get("summary"), "test": result.metrics.get("test"),
                          "warnings": result.metrics.get("warnings", [])}, indent=2))  # fmt: skip
    elif not quiet:
        _render_train(result)


def _launch(options, launch, quiet: bool, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """``--nproc-per-node``: every option checked here, then torchrun starts the workers."""
    from memo.trainer.launch import launch_workers

    try:
        status = launch_workers(options, launch)
    except MemoError as exc:
        raise fail(str(exc)) from None
    if status:
        raise fail(f"training workers failed (torchrun exit {status}); rerun with --resume to continue", 1)
    report = options.output / "metrics.json"
    if launch.node_rank or not report.is_file():
        return
    if as_json or not quiet:
        metrics = json.loads(report.read_text(encoding="utf-8"))
        if as_json:
            print(json.dumps({"output": str(options.output), "bundle": str(options.output / "bundle"),
                              "summary": metrics.get("summary"), "test": metrics.get("test")}, indent=2))  # fmt: skip
        else:
            console.print(f"trained on {launch.world_size} processes: {options.output / 'bundle'}  "
                          f"(metrics: {report})", highlight=False)  # fmt: skip


def _train(options, reporter: TrainProgress):  # type: ignore[no-untyped-def]
    """Run the recipe; Ctrl-C names the resume command, a MemoError is one line and exit 2."""
    from memo.trainer import train

    try:
        with reporter:
            return train(options, progress=reporter.event)
    except KeyboardInterrupt:
        run = escape(str(options.output))
        console.print(
            f"\ninterrupted: the last finished epoch is checkpointed in {run}; "
            f"rerun with: memo train -o {run} --resume",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except MemoError as exc:
        raise fail(str(exc)) from None


def _render_check(report, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """``--check``: the dataset report, then exit 0 (OK) or 2 (problems)."""
    if as_json:
        print(
            json.dumps({"items": report.items, "problems": report.problems, "notes": report.notes}, indent=2)
        )
    else:
        for note in report.notes:
            console.print(f"  {note}", highlight=False)
        for problem in report.problems:
            console.print(f"[red]problem:[/] {problem}", highlight=False)
        console.print("[green]dataset OK[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]")
    raise typer.Exit(0 if report.ok else 2)


def _given(ctx: typer.Context, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The options given explicitly on the command line (the rest comes from --config or the defaults)."""
    overrides: dict[str, Any] = {}
    fit: dict[str, Any] = {}
    for name in (*PARAM_FIELDS, *FIT_PARAMS):
        if getattr(ctx.get_parameter_source(name), "name", None) not in EXPLICIT:
            continue
        value = params[name]
        if name == "stream":
            console.print("[yellow]warning:[/] --stream is deprecated: use --input (video is now keyframes)")
            value = [*(overrides.get("inputs") or []), *value]
        if name in FIT_PARAMS:
            fit[name] = value
        elif name == "model_arg":
            overrides["model_args"] = parse_model_args(list(value))
        else:
            overrides[PARAM_FIELDS[name]] = list(value) if isinstance(value, (list, tuple)) else value
    return overrides, fit


def _render_train(result) -> None:  # type: ignore[no-untyped-def]
    metrics = result.metrics
    table = Table(title=f"memo train: {metrics['dataset']}, {metrics['protocol']}")
    table.add_column("target")
    table.add_column("Spearman", justify="right")
    table.add_column("Pearson", justify="right")
    table.add_column("MSE", justify="right")
    for target, s in metrics["summary"].items():
        if "spearman_std" in s:  # several folds: mean ± std
            cells = [f"{s[f'{k}_mean']:.3f} ± {s[f'{k}_std']:.3f}" for k in ("spearman", "pearson")]
            table.add_row(target, *cells, f"{s['mse_mean']:.4f}")
        else:  # one validation split: its own numbers
            table.add_row(target, f"{s['spearman']:.3f}", f"{s['pearson']:.3f}", f"{s['mse']:.4f}")
    for target, m in (metrics.get("test") or {}).items():
        table.add_row(f"{target} (--test)", f"{m['spearman']:.3f}", f"{m['pearson']:.3f}", f"{m['mse']:.4f}")
    if metrics["summary"] or metrics.get("test"):
        console.print(table)
    final = metrics["final_model"]
    console.print(
        f"bundle: {result.bundle}  (trained on {final['trained_on']}, {final['epochs']} epochs: {final['rule']})"
    )
    for warning in metrics.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"metrics: {result.output / 'metrics.json'}   time: {result.seconds:.1f} s")
