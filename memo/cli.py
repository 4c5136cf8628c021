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
    backend: Annotated[str, typer.Option(help="Runtime backend: torch (more with memo export).")] = "torch",
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
) -> None:
    from memo.data.discover import DEFAULT_EXTENSIONS
    from memo.score import ScoreOptions, score_videos

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


def run() -> None:  # pragma: no cover - console entry for `python -m memo`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
