"""`memo report`: one self-contained HTML page of a scored library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from memo.cli.app import app, console, fail
from memo.errors import MemoError

ReportTopOpt = Annotated[
    int, typer.Option("--top", help="Gallery: this many most and least memorable videos (per output).")
]


@app.command(
    "report",
    short_help="Write an offline HTML page about a scored library.",
    help=(
        "Write one offline HTML page about a scored library (results of memo score).\n\n"
        "It shows the settings, counts, score histograms, a gallery of the most and least memorable videos "
        "with the frames the score used, failures by reason and a sortable, searchable table of every row. "
        "Open it in any browser: no server, no network.\n\n"
        "Example: memo report scores.csv -o report.html\n\n"
        "RESULTS: a .csv, .jsonl or .parquet file written by memo score (with --per-frame and --explain "
        "columns shown when present), or a folder of Parquet parts.\n\n"
        "Exit status: 0 written, 2 usage error or unreadable results."
    ),
    no_args_is_help=True,
)
def report_command(
    results: Annotated[Path, typer.Argument(help="Results file or folder of Parquet parts from memo score.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The page to write (replaced if it exists).")
    ] = Path("report.html"),
    top: ReportTopOpt = 12,
    bins: Annotated[int, typer.Option("--bins", help="Histogram bins.")] = 20,
    thumbnails: Annotated[
        bool, typer.Option("--thumbnails/--no-thumbnails", help="Decode keyframe strips for the gallery.")
    ] = True,
    workers: Annotated[int, typer.Option("--workers", help="Videos decoded at once for thumbnails.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was written as JSON on stdout.")
    ] = False,
) -> None:
    from memo.report import ReportOptions

    options = ReportOptions(results, output, top=top, bins=bins, thumbnails=thumbnails, workers=workers)
    run_report(options, quiet=quiet, as_json=as_json)


def run_report(options, quiet: bool = False, as_json: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Write the report and say so (also ``memo score --report``); usage errors exit 2."""
    from memo.report import write_report

    try:
        summary = write_report(options)
    except MemoError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps({"output": str(summary.output), "rows": summary.rows, "gallery": summary.gallery,
                          "thumbnails": summary.thumbnails, "cached": summary.cached,
                          "placeholders": summary.placeholders, "bytes": summary.bytes,
                          "files_dir": str(summary.files_dir) if summary.files_dir else None,
                          "seconds": round(summary.seconds, 3)}, indent=2))  # fmt: skip
    elif not quiet:
        shown = f"{summary.thumbnails} thumbnail strips ({summary.cached} from the cache)"
        if summary.placeholders:
            shown += f", {summary.placeholders} videos did not open"
        beside = f" + {summary.files_dir.name}/" if summary.files_dir else ""
        console.print(
            f"report: {escape(str(summary.output))}{beside} ({summary.rows} rows, {shown}, "
            f"{_size(summary.bytes)}, {summary.seconds:.1f} s)",
            highlight=False,
            soft_wrap=True,
        )


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"
