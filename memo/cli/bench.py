"""`memo bench`: time every backend and check parity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from memo.bench.options import BenchOptions, check_options
from memo.cli.app import app, console, fail
from memo.cli.score_options import FeatureRowsOpt, FeaturesOpt, IdColumnOpt, TextColumnOpt, TextOpt
from memo.errors import MemoError
from memo.formats import BENCH_BACKENDS, DEFAULT_PRECISION, PRECISIONS

_BACKENDS = ",".join(BENCH_BACKENDS)  # the bench matrix, from the format table


@app.command(
    "bench",
    short_help="Measure latency, throughput and parity of each backend.",
    help=(
        "Benchmark MODEL on backends x precisions x batch sizes; "
        "one row each (ok / failed / unavailable).\n\n"
        "Example: memo bench resmem --backends torch,onnx --batch-sizes 1,16\n\n"
        "A backend's exported artifact comes from the bundle (memo export first; a missing one is an "
        "unavailable row that gives the command).\n\n"
        "Latency p50/p90/p99 after warm-up, throughput, peak memory, and parity (Spearman, max abs diff) "
        "of per-video scores against PyTorch fp32 on the same real videos; below the floor (fp32 0.999, "
        "fp16 0.995) a row fails and the exit status is 1. --videos also times decode + inference per video.\n\n"
        "A model with caption or feature inputs needs --text / --features (as memo score); one that reads "
        "no video is benchmarked on the first ids of those tables."
    ),
    no_args_is_help=True,
)
def bench_command(
    model: Annotated[str, typer.Argument(help="Bundle directory or named model. Example: resmem")],
    backends: Annotated[str, typer.Option(help=f"Comma-separated: {_BACKENDS}.")] = _BACKENDS,
    precisions: Annotated[
        str, typer.Option(help=f"Comma-separated: {','.join(PRECISIONS)}.")
    ] = DEFAULT_PRECISION,
    batch_sizes: Annotated[
        str, typer.Option("--batch-sizes", help="Comma-separated. Example: 1,8,32")
    ] = "1,8,32",
    videos: Annotated[
        Path | None, typer.Option(help="Videos to measure on; also times decode + inference end to end.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    decoder: Annotated[
        str,
        typer.Option(
            help="Frame decoder for the samples and the end-to-end pass: auto (DALI when installed and the "
            "device is CUDA, else PyAV), pyav, or dali (pip install 'memo[dali]')."
        ),
    ] = "auto",
    text: TextOpt = None,
    id_column: IdColumnOpt = None,
    text_column: TextColumnOpt = None,
    features: FeaturesOpt = None,
    feature_rows: FeatureRowsOpt = None,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed calls before timing.")] = 2,
    iterations: Annotated[int, typer.Option(min=1, help="Timed calls per row (at most).")] = 20,
    max_seconds: Annotated[
        float, typer.Option(help="Stop timing a row after this long (>= 3 calls).")
    ] = 20.0,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Intra-op threads (default: as memo score, the idle cores). A backend without them: unavailable.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Also write the rows to this CSV file.")
    ] = None,
) -> None:
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
            decoder=decoder,
            text=text,
            id_column=id_column,
            text_column=text_column,
            features=features,
            feature_rows=feature_rows,
        )
    except ValueError:
        raise fail(f"--batch-sizes {batch_sizes!r}: expected integers, e.g. 1,8,32") from None
    try:
        check_options(options)  # no torch yet: a mistake is told in well under a second
    except MemoError as exc:
        raise fail(str(exc)) from None
    if csv_path is not None and csv_path.is_dir():
        raise fail(f"--csv {csv_path}: is a folder; name the CSV file to write")
    _run_and_print(options, as_json, csv_path)


def _run_and_print(options: BenchOptions, as_json: bool, csv_path: Path | None) -> None:
    """Run the bench (a usage error is one line, exit 2), print the report; exit 1 if a row failed."""
    from memo.bench import run_bench
    from memo.bench.output import to_json_text, write_csv

    try:
        with console.status("benchmarking ...") as status:
            report = run_bench(
                options, on_row=lambda r: status.update(f"done {r.backend}/{r.precision}/{r.batch}")
            )
    except MemoError as exc:
        raise fail(str(exc)) from None
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
        + f"; load average {env['load_average_start']} -> {env.get('load_average_end')}"
        + f"; threads {env.get('threads') or '-'}"
        + f"; decoder {report.decoder}",
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
    table = Table(
        title=f"memo bench ({len(report.videos)} inputs: videos or table ids; parity vs torch fp32)"
    )
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
