"""`memo export`: export a bundle to ONNX / TensorRT, validated."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from memo.cli.app import app, console, fail
from memo.errors import MemoError


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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or table.")] = False,
) -> None:

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
        with nullcontext() if quiet or as_json else console.status("exporting and validating ..."):
            results = run_export(options)
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
