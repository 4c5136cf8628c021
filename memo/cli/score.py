"""`memo score`: score videos and write one row per video."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from memo.cli.app import RESMEM_NOTE, app, console, fail
from memo.cli.score_options import (
    ActorsOpt,
    AddressOpt,
    AsJsonOpt,
    BackendOpt,
    BatchSizeOpt,
    DecodeCpusOpt,
    DecoderOpt,
    DeviceOpt,
    EngineOpt,
    ExplainOpt,
    ExtOpt,
    FeatureRowsOpt,
    FeaturesOpt,
    FilesFromOpt,
    FramesOpt,
    GpusPerActorOpt,
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
    ReportOpt,
    ResumeOpt,
    RetryFailedOpt,
    StallTimeoutOpt,
    TextColumnOpt,
    TextOpt,
    ThreadsOpt,
    VideosPerBlockOpt,
    WorkersOpt,
)
from memo.cli.score_progress import run_with_progress
from memo.cli.score_ray import check_engine_flags, score_on_ray, spelled
from memo.errors import MemoError

if TYPE_CHECKING:
    from memo.data.inputs import StreamProvider

log = logging.getLogger("memo.cli.score")


@app.command(
    short_help="Score videos and write one row per video.",
    help=(
        "Score every video under PATHS (files or folders, searched recursively) and write one row per video.\n\n"
        "Example: memo score ./videos/ -o scores.csv\n\n"
        "Output format follows the extension: .csv, .jsonl or .parquet. Rows are written as videos finish, so an "
        "interrupted run keeps every finished row; --resume continues it.\n\n"
        "Exit status: 0 all scored, 1 some videos failed (each failed row says why), 2 usage error.\n\n"
        f"{RESMEM_NOTE}"
    ),
)
def score(
    paths: PathsOpt = None,
    output: OutputOpt = "scores.csv",
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
    report: ReportOpt = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    actors: ActorsOpt = None,
    gpus_per_actor: GpusPerActorOpt = None,
    decode_cpus: DecodeCpusOpt = 1.0,
    videos_per_block: VideosPerBlockOpt = 8,
    stall_timeout: StallTimeoutOpt = 600.0,
    precision: PrecisionOpt = "fp32",
) -> None:
    from memo.data.discover import DEFAULT_EXTENSIONS

    cluster = check_engine_flags(
        engine, output, address, actors, gpus_per_actor, decode_cpus, videos_per_block, stall_timeout
    )
    _check_cheap_options(
        bool(paths or files_from or manifest or text or features),
        (path_column is None or manifest is not None, retry_failed or resume),
        None if cluster is not None else (Path(output), resume, overwrite),  # Ray: a folder, checked there
        (batch_size, workers, threads, precision), backend,
    )  # fmt: skip
    report_options = _report_options(report, output)
    from memo.data.decoders import resolve_decoder
    from memo.runtime.base import resolve_device
    from memo.score import ScoreOptions  # torch: only once the options hold

    try:  # resolved once, here, before any work (Ray: the actors resolve the name on their nodes)
        chosen = decoder if cluster is not None else resolve_decoder(decoder, resolve_device(device))
        providers = _stream_providers((text, id_column, text_column), features, feature_rows, model, device)
    except MemoError as exc:
        raise fail(str(exc)) from None

    options = ScoreOptions(
        inputs=spelled(paths),
        output=Path(output),
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
        decoder=chosen,
        providers=providers,
        threads=threads,
        precision=precision,
        files_from=files_from,
        manifest=manifest,
        path_column=path_column or "path",
        retry_failed=retry_failed,
    )
    show = not quiet and not as_json
    if cluster is not None:
        done = functools.partial(finish, report_options=report_options)
        score_on_ray(options, cluster, show, as_json, done)  # raises typer.Exit
    _score_here(options, show, (as_json, quiet), report_options)


def _score_here(options, show: bool, quiet_modes: tuple[bool, bool], report_options) -> None:  # type: ignore[no-untyped-def]
    """Score on this machine with a progress bar, then :func:`finish` (which exits)."""
    from memo.score import score_videos

    output, (as_json, quiet) = str(options.output), quiet_modes

    def run(on_start, on_row):  # type: ignore[no-untyped-def]
        return score_videos(options, on_start=on_start, on_row=on_row, on_note=_note(show))

    summary = run_with_progress(show, output, run)
    finish(summary, output, as_json, quiet, report_options)


def finish(summary, output: str, as_json: bool, quiet: bool, report_options=None) -> None:  # type: ignore[no-untyped-def]
    """Log, print (--json or the tables) and exit: 1 when any row of the output failed."""
    log.info(
        "summary: %d rows in %s, %d scored, %d failed (this run: %d scored, %d failed)",
        summary.total, output, summary.scored, summary.failed, summary.new_scored, summary.new_failed,
    )  # fmt: skip
    if as_json:
        print(json.dumps(summary.to_json(), indent=2))
    elif not quiet:
        render_summary(summary)
    _write_report(report_options, quiet or as_json)
    raise typer.Exit(1 if summary.failed else 0)


def _write_report(options, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    if options is not None:
        from memo.cli.report import run_report

        run_report(options, quiet=quiet)


def _report_options(report: Path | None, output: str):  # type: ignore[no-untyped-def]
    """``--report``'s options, checked before any work (None without --report)."""
    if report is None:
        return None
    from memo.report import ReportOptions, check_report_options

    options = ReportOptions(Path(output), report)
    try:
        check_report_options(options)
    except MemoError as exc:
        raise fail(f"--report: {exc}") from None
    if report.resolve() == Path(output).resolve():
        raise fail(f"--report {report}: is the results file (-o); write the report elsewhere")
    return options


def _check_cheap_options(
    given: bool,
    companions: tuple[bool, bool],
    output: tuple[Path, bool, bool] | None,
    numbers: tuple[int, int, int | None, str],
    backend: str,
) -> None:
    """The checks that need neither torch nor the model, before either is loaded (< 1 s).

    ``given``: some input was named; ``companions``: --path-column has --manifest,
    --no-retry-failed has --resume."""
    from memo.score.checks import check_backend_name, check_numbers, check_output

    if not given:
        raise fail("no videos given: memo score PATH... -o scores.csv (see memo score --help)")
    needs = ("--path-column needs --manifest", "--no-retry-failed only applies with --resume")
    for ok, message in zip(companions, needs, strict=True):
        if not ok:
            raise fail(message)
    try:
        check_numbers(*numbers)
        check_backend_name(backend)
        if output is not None:
            path, resume, overwrite = output
            check_output(path, resume=resume, overwrite=overwrite)
    except MemoError as exc:
        raise fail(str(exc)) from None


def _note(show: bool):  # type: ignore[no-untyped-def]
    """What the run chose (and a first-use export), one line each, unless --quiet / --json."""

    def note(line: str) -> None:
        if show:
            console.print(escape(line), highlight=False, soft_wrap=True)

    return note


def _stream_providers(
    captions: tuple[Path | None, str | None, list[str] | None],
    features: list[Path] | None,
    feature_rows: Path | None,
    model: str,
    device: str,
) -> dict[str, StreamProvider]:
    """``--text`` (with its id / caption columns), ``--features`` and ``--feature-rows`` checked
    against the model's inputs and opened (:func:`memo.data.streams.open_side_inputs`)."""
    from memo.data.streams import SideInputs, open_side_inputs
    from memo.models.named import resolve_model

    text, id_column, text_columns = captions
    tables = SideInputs(text, id_column, text_columns, features, feature_rows)
    if not any(vars(tables).values()):  # nothing to open; a model that needs a table is told by score
        return {}
    return open_side_inputs(resolve_model(model), tables, device=device)


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
    if data["saturated"]:
        console.print(f"[yellow]warning:[/] {escape(data['saturated'])}", highlight=False, soft_wrap=True)
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
