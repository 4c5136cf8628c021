"""`memo score`: score videos and write one row per video."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
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

from memo.cli.app import RESMEM_NOTE, app, console, fail
from memo.errors import MemoError

log = logging.getLogger("memo.cli.score")


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
        list[Path] | None,
        typer.Argument(
            help="Video files and/or folders. Example: ./videos/ clip.mp4 (or --files-from / --manifest; "
            "a text- or features-only model without paths scores every id of --text / --features)"
        ),
    ] = None,
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
    decoder: Annotated[
        str,
        typer.Option(
            help="Frame decoder: auto (DALI when installed and the device is CUDA, else PyAV), pyav, "
            "or dali (pip install 'memo[dali]'; files DALI cannot decode fall back to PyAV)."
        ),
    ] = "auto",
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
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Also write each module's contribution (contrib_<module>; m3s bundles)."
        ),
    ] = False,
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
            help="Captions for models with a text input: CSV with a path/id column and caption column(s), "
            "one row per caption (long) or one per video (wide)."
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(help="--text: the column naming each video (default: path, id, video_id ...)."),
    ] = None,
    text_column: Annotated[
        list[str] | None,
        typer.Option(
            help="--text: caption column(s) (repeat; default: caption, description_N, text, title)."
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
    files_from: Annotated[
        str | None,
        typer.Option("--files-from", help="Read paths from this file, one per line ('-': standard input)."),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(help="CSV or Parquet table with a column of paths (relative to the table's folder)."),
    ] = None,
    path_column: Annotated[
        str | None,
        typer.Option("--path-column", help="The --manifest column holding the paths (default: path)."),
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed/--no-retry-failed", help="With --resume: score failed rows again."),
    ] = True,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Intra-op threads of PyTorch / ONNX Runtime (default: all cores)."),
    ] = None,
) -> None:
    from memo.data.discover import DEFAULT_EXTENSIONS
    from memo.score import ScoreOptions, score_videos

    if path_column is not None and manifest is None:
        raise fail("--path-column needs --manifest")
    if not retry_failed and not resume:
        raise fail("--no-retry-failed only applies with --resume")
    try:
        _check_decoder(decoder, device)
        providers = _stream_providers((text, id_column, text_column), features, feature_rows, model, device)
    except MemoError as exc:
        raise fail(str(exc)) from None

    options = ScoreOptions(
        inputs=[str(p) for p in paths or []],
        output=output,
        model=model,
        backend=backend,
        device=device,
        batch_size=batch_size,
        workers=workers,
        num_frames=frames,
        per_frame=per_frame,
        explain=explain,
        resume=resume,
        overwrite=overwrite,
        extensions=tuple(ext.split(",")) if ext else DEFAULT_EXTENSIONS,
        decoder=decoder,
        providers=providers,
        threads=threads,
        files_from=files_from,
        manifest=manifest,
        path_column=path_column or "path",
        retry_failed=retry_failed,
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
            console.print(f"resuming: {skipped} of {total} videos already in {output}", highlight=False)
        progress.update(task, total=total - skipped)

    def on_row(row: dict, summary) -> None:  # type: ignore[no-untyped-def]
        rate = f"{summary.videos_per_second:.2f}"
        progress.update(task, advance=1, rate=rate, failed=summary.new_failed)
        if show and row["status"] != "ok":  # each failure once, here; the summary groups them
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
        raise fail(str(exc)) from None
    progress.stop()

    log.info(
        "summary: %d rows in %s, %d scored, %d failed (this run: %d scored, %d failed)",
        summary.total, output, summary.scored, summary.failed, summary.new_scored, summary.new_failed,
    )  # fmt: skip
    if as_json:
        print(json.dumps(summary.to_json(), indent=2))
    elif not quiet:
        render_summary(summary)
    raise typer.Exit(1 if summary.failed else 0)


def _check_decoder(decoder: str, device: str) -> None:
    """Refuse an unknown or uninstalled decoder before any work."""
    from memo.data.decoders import resolve_decoder
    from memo.runtime.base import resolve_device

    resolve_decoder(decoder, resolve_device(device))


def _stream_providers(
    captions: tuple[Path | None, str | None, list[str] | None],
    features: Path | None,
    feature_rows: Path | None,
    model: str,
    device: str,
) -> dict:  # type: ignore[type-arg]
    providers: dict = {}  # type: ignore[type-arg]
    text, id_column, text_columns = captions
    if text is not None:
        from memo.data.text import CaptionTable, TextProvider

        bundle_dir = Path(model) if Path(model).is_dir() else None
        providers["text"] = TextProvider(
            CaptionTable(text, id_column, text_columns or None),
            "cuda" if device.startswith("cuda") else "cpu",
            bundle_dir,
        )
    if features is not None:
        from memo.data.features import FeatureProvider, open_features

        providers["features"] = FeatureProvider(open_features(features, feature_rows))
    return providers


def render_summary(summary) -> None:  # type: ignore[no-untyped-def]
    """The whole file's figures; failures grouped by reason (count and first paths), once each."""
    data = summary.to_json()
    mean = f"{data['mean_score']:.4f}" if data["mean_score"] is not None else "-"
    head = Table(
        title=f"memo score: {data['model']} on {data['backend']}/{data['device']}", show_header=False
    )
    head.add_column(style="bold")
    head.add_column()
    head.add_row("rows in the file", str(data["total"]))
    if data["skipped"]:
        head.add_row("kept from before (resume)", str(data["skipped"]))
    if data["retried"]:
        head.add_row("failed before, retried", str(data["retried"]))
    head.add_row("scored", str(data["scored"]))
    if data["with_warnings"]:
        head.add_row("scored with warnings", str(data["with_warnings"]))
    head.add_row("failed", f"[red]{data['failed']}[/]" if data["failed"] else "0")
    head.add_row("mean score", mean)
    head.add_row("decoder", data["decoder"])
    run = data["this_run"]
    head.add_row(
        "this run",
        f"{run['scored']} scored, {run['failed']} failed in {data['seconds']:.1f} s "
        f"({data['videos_per_second']:.2f} videos/s)",
    )
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
    if data["failure_reasons"]:
        fails = Table(title=f"{data['failed']} failed, by reason", title_style="red")
        fails.add_column("count", justify="right")
        fails.add_column("reason")
        fails.add_column("first paths")
        for group in data["failure_reasons"]:
            more = " ..." if group["count"] > len(group["paths"]) else ""
            fails.add_row(
                str(group["count"]), escape(group["reason"]), escape(", ".join(group["paths"]) + more)
            )
        console.print(fails)
