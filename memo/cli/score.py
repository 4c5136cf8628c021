"""`memo score`: score videos and write one row per video."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

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
from memo.cli.score_options import (
    AsJsonOpt,
    BackendOpt,
    BatchSizeOpt,
    DecoderOpt,
    DeviceOpt,
    ExplainOpt,
    ExtOpt,
    FeatureRowsOpt,
    FeaturesOpt,
    FilesFromOpt,
    FramesOpt,
    IdColumnOpt,
    ManifestOpt,
    ModelOpt,
    OutputOpt,
    OverwriteOpt,
    PathColumnOpt,
    PathsOpt,
    PerFrameOpt,
    PrecisionOpt,
    QuietOpt,
    ResumeOpt,
    RetryFailedOpt,
    TextColumnOpt,
    TextOpt,
    ThreadsOpt,
    WorkersOpt,
)
from memo.errors import MemoError

if TYPE_CHECKING:
    from memo.data.inputs import StreamProvider

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
    paths: PathsOpt = None,
    output: OutputOpt = Path("scores.csv"),
    model: ModelOpt = "resmem",
    backend: BackendOpt = "auto",
    device: DeviceOpt = "auto",
    decoder: DecoderOpt = "auto",
    batch_size: BatchSizeOpt = 16,  # memo.runtime.threads.DEFAULT_BATCH_SIZE
    workers: WorkersOpt = 2,
    frames: FramesOpt = None,
    per_frame: PerFrameOpt = False,
    explain: ExplainOpt = False,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    ext: ExtOpt = None,
    quiet: QuietOpt = False,
    as_json: AsJsonOpt = False,
    text: TextOpt = None,
    id_column: IdColumnOpt = None,
    text_column: TextColumnOpt = None,
    features: FeaturesOpt = None,
    feature_rows: FeatureRowsOpt = None,
    files_from: FilesFromOpt = None,
    manifest: ManifestOpt = None,
    path_column: PathColumnOpt = None,
    retry_failed: RetryFailedOpt = True,
    threads: ThreadsOpt = None,
    precision: PrecisionOpt = "fp32",
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
        precision=precision,
        files_from=files_from,
        manifest=manifest,
        path_column=path_column or "path",
        retry_failed=retry_failed,
    )
    show = not quiet and not as_json
    progress, on_start, on_row = _progress(show, output)

    try:
        summary = score_videos(options, on_start=on_start, on_row=on_row, on_note=_note(show))
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


def _progress(show: bool, output: Path):  # type: ignore[no-untyped-def]
    """The progress bar and the two callbacks ``score_videos`` reports through."""
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

    return progress, on_start, on_row


def _note(show: bool):  # type: ignore[no-untyped-def]
    """What the run chose (and a first-use export), one line each, unless --quiet / --json."""

    def note(line: str) -> None:
        if show:
            console.print(escape(line), highlight=False, soft_wrap=True)

    return note


def _check_decoder(decoder: str, device: str) -> None:
    """Refuse an unknown or uninstalled decoder before any work."""
    from memo.data.decoders import resolve_decoder
    from memo.runtime.base import resolve_device

    resolve_decoder(decoder, resolve_device(device))


def _stream_providers(
    captions: tuple[Path | None, str | None, list[str] | None],
    features: list[Path] | None,
    feature_rows: Path | None,
    model: str,
    device: str,
) -> dict[str, StreamProvider]:
    """``--text`` (with its id / caption columns), ``--features`` and ``--feature-rows`` opened."""
    from memo.data.streams import open_providers

    text, id_column, text_columns = captions
    return open_providers(
        text,
        features,
        id_column=id_column,
        text_columns=text_columns,
        feature_rows=feature_rows,
        device=device,
        bundle_dir=Path(model) if Path(model).is_dir() else None,
    )


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
