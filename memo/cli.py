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
