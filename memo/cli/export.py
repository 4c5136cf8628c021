"""`memo export`: export a bundle to ONNX / TensorRT, validated.

The format flags (``--onnx``, ``--trt``) and the precision flags (``--fp16``) are generated
from the format table (:mod:`memo.formats`) by :func:`export_signature`; the rest of the
options are written out once in :func:`_common_options`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from memo.cli.app import app, console, fail
from memo.cli.score_options import FeatureRowsOpt, FeaturesOpt, IdColumnOpt, TextColumnOpt, TextOpt
from memo.errors import MemoError
from memo.export.options import ExportOptions, check_export_options
from memo.formats import DEFAULT_PRECISION, FORMATS, PRECISION_HELP, PRECISIONS, Format


def _common_options(
    model: Annotated[str, typer.Argument(help="Bundle directory or named model. Example: resmem")],
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
        Path | None,
        typer.Option(
            envvar="MEMO_SAMPLE_VIDEOS",
            help="A folder of videos to validate on (default: $MEMO_SAMPLE_VIDEOS, else 8 generated test "
            "videos written once to $MEMO_HOME/samples).",
        ),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="--int8: videos to calibrate on (folder or CSV with a path column); validated on others."
        ),
    ] = None,
    calibration_method: Annotated[
        str, typer.Option("--calibration-method", help="--int8: minmax (default), entropy or percentile.")
    ] = "minmax",
    text: TextOpt = None,
    id_column: IdColumnOpt = None,
    text_column: TextColumnOpt = None,
    features: FeaturesOpt = None,
    feature_rows: FeatureRowsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the export records on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or table.")] = False,
) -> None:
    """Signature template of the options every format shares (never called)."""


def _flag_parameter(name: str, flag: str, text: str) -> inspect.Parameter:
    annotation = Annotated[bool, typer.Option(flag, help=text)]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=annotation)


def export_signature(formats: Mapping[str, Format], precisions: tuple[str, ...]) -> inspect.Signature:
    """MODEL, one flag per format, one per non-default precision, then the shared options."""
    common = list(inspect.signature(_common_options, eval_str=True).parameters.values())
    taken = {p.name for p in common}
    generated = [_flag_parameter(f.name, f.flag, f.flag_help()) for f in formats.values()]
    generated += [
        _flag_parameter(p, f"--{p}", PRECISION_HELP.get(p, f"Build in {p}."))
        for p in precisions
        if p != DEFAULT_PRECISION
    ]
    clash = taken & {p.name for p in generated}
    if clash:
        raise ValueError(f"format/precision names {sorted(clash)} clash with memo export's options")
    keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in common[1:]]
    return inspect.Signature([common[0], *generated, *keyword])


def make_export_command(
    formats: Mapping[str, Format] = FORMATS, precisions: tuple[str, ...] = PRECISIONS
) -> Callable[..., None]:
    """The ``memo export`` callback, with its flags generated from ``formats`` and ``precisions``."""

    def export_command(**params: Any) -> None:
        chosen = [name for name in formats if params.pop(name)]
        asked = [p for p in precisions if p != DEFAULT_PRECISION and params.pop(p)]
        if len(asked) > 1:
            raise fail(f"choose one precision: {' or '.join('--' + p for p in asked)}")
        _export(chosen or [next(iter(formats))], asked[0] if asked else DEFAULT_PRECISION, **params)

    export_command.__signature__ = export_signature(formats, precisions)  # type: ignore[attr-defined]
    return export_command


def export_help(formats: Mapping[str, Format] = FORMATS) -> str:
    described = "; ".join(
        f"{f.name} ({f.artifact(DEFAULT_PRECISION)}: {f.description}"
        + ("; needs a CUDA GPU" if f.needs_gpu else "")
        + ")"
        for f in formats.values()
    )
    first = next(iter(formats.values()))
    return (
        "Export MODEL (bundle directory or named model) to the formats asked for "
        f"(default {first.flag}), written into the bundle.\n\n"
        "Examples: memo export resmem --onnx ; memo export runs/vm8/bundle --trt --fp16\n\n"
        "Every export is validated against PyTorch on real video frames (names, shapes, values, Spearman); "
        "the result is recorded in the bundle's export.json and a failed validation is an error. "
        "A model with caption or feature inputs needs --text / --features; one that reads no video "
        "is validated on the first ids of those tables.\n\n"
        f"Formats: {described}. TensorRT needs a CUDA GPU and pip install 'memo[trt]'; that path follows "
        "TensorRT's documented API and has not been run yet."
    )


def register(target: typer.Typer, formats: Mapping[str, Format] = FORMATS) -> None:
    """Add ``memo export`` to ``target`` with flags generated from ``formats``."""
    target.command(
        "export",
        help=export_help(formats),
        short_help="Export a model to ONNX / TensorRT, validated against PyTorch.",
        no_args_is_help=True,
    )(make_export_command(formats))


def _export(
    formats: list[str], precision: str, model: str, as_json: bool, quiet: bool, **options: Any
) -> None:
    try:
        export_options = ExportOptions(model=model, formats=formats, precision=precision, **options)
        check_export_options(export_options)  # no torch yet: a mistake is told in well under a second
    except MemoError as exc:
        raise fail(str(exc)) from None
    from memo.export.runner import run_export

    try:
        with nullcontext() if quiet or as_json else console.status("exporting and validating ..."):
            results = run_export(export_options)
    except MemoError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps([{"path": str(r.path), **r.record} for r in results], indent=2, default=str))
        return
    if quiet:
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


register(app)
