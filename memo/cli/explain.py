"""`memo explain`: attention overlays, contact sheets and per-head scores for videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from memo.cli.app import app, console, fail
from memo.cli.score_options import FeatureRowsOpt, FeaturesOpt, TextOpt
from memo.data.decoders.names import check_decoder_name
from memo.data.tables import SideInputs, check_table_files, check_table_options
from memo.errors import MemoError
from memo.export.options import check_bundle_path


@app.command(
    "explain",
    short_help="Draw where a model looks in each video's frames.",
    help=(
        "Draw where MODEL looks in the frames it scored, for each VIDEO: PNG overlays, a contact "
        "sheet per video (each frame at its own aspect ratio, with its time and score) and every head's "
        "score (scores.json) in OUTPUT/<video>/. Maps are the model's own attention, or Grad-CAM on its "
        "last convolution for a model without attention (ResMem, resnet3d, ...).\n\n"
        "Example: memo explain clip.mp4 -m runs/vmemnet/bundle -o explain/\n\n"
        "Exit status: 0 all explained, 1 some videos failed, 2 usage error."
    ),
    no_args_is_help=True,
)
def explain_command(
    videos: Annotated[list[Path], typer.Argument(help="Video files.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Bundle directory or named model.")] = "resmem",
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the pictures.")] = Path(
        "explain"
    ),
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    text: TextOpt = None,
    features: FeaturesOpt = None,
    feature_rows: FeatureRowsOpt = None,
    decoder: Annotated[
        str,
        typer.Option(
            help="Frame decoder: auto (DALI when installed and the device is CUDA, else PyAV), pyav, "
            "or dali (pip install 'memo[dali]'; files DALI cannot decode fall back to PyAV)."
        ),
    ] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    tables = SideInputs(text=text, features=features, feature_rows=feature_rows)
    try:  # no torch yet: a mistake in the options is told in well under a second
        check_decoder_name(decoder)
        check_table_options(tables)
        check_table_files(tables)
        check_bundle_path(model)
    except MemoError as exc:
        raise fail(str(exc)) from None
    from memo.data.streams import open_side_inputs
    from memo.explain import ExplainOptions, explain_videos
    from memo.models.named import resolve_model

    try:
        providers = open_side_inputs(resolve_model(model), tables, device=device) if text or features else {}
        options = ExplainOptions(
            videos=[str(v) for v in videos],
            output=output,
            model=model,
            device=device,
            decoder=decoder,
            providers=providers,
        )
        results = explain_videos(options)
    except MemoError as exc:
        raise fail(str(exc)) from None
    failed = [r for r in results if r.error]
    for r in failed:
        console.print(f"[red]failed:[/] {escape(r.error or '')}", highlight=False, soft_wrap=True)
    if as_json:
        rows = [{"video": r.video, "folder": str(r.folder) if r.folder else None, "scores": r.scores,
                 "maps": r.maps, "decoder": r.decoder, "error": r.error} for r in results]  # fmt: skip
        print(json.dumps(rows, indent=2))
    elif not quiet:
        for r in results:
            if r.folder is not None:
                heads = ", ".join(f"{k} {v:.4f}" for k, v in r.scores.items() if isinstance(v, float))
                maps = (
                    f"{', '.join(r.maps)} ({r.method})"
                    if r.maps
                    else "no maps (the model runs no convolution)"
                )
                console.print(
                    f"{escape(r.video)}: {heads}; {maps} -> {escape(str(r.folder))}", highlight=False
                )
    raise typer.Exit(1 if failed else 0)
