"""`memo models`: the architectures memo builds and the named pretrained models (on stdout, to pipe)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from memo.cli.app import RESMEM_NOTE, app, fail, stdout
from memo.errors import MemoError


@app.command(
    "models",
    short_help="List the model architectures and pretrained models.",
    help=(
        "List the model architectures: paper, inputs, parameters, GFLOPs per video of the default "
        "configuration (counted on the meta device), pretrained parts and offline bundles. With NAME: "
        "that architecture and its arguments (what --model-arg sets).\n\n"
        "Example: memo models --json; memo models resnet3d"
    ),
)
def models_command(
    name: Annotated[
        str | None, typer.Argument(help="An architecture: show it and its arguments (--model-arg KEY=VALUE).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON on stdout.")] = False,
) -> None:
    from memo.data.text_encoders import KNOWN
    from memo.models.catalogue import catalogue, format_gflops, format_params
    from memo.models.named import NAMED

    if name is not None:
        try:
            _print_architecture(name, as_json)
        except MemoError as exc:
            raise fail(str(exc)) from None
        return
    rows = catalogue()
    if as_json:
        encoders = [asdict(e) for e in KNOWN.values()]
        print(
            json.dumps(
                {
                    "architectures": [r.to_json() for r in rows],
                    "named": list(NAMED),
                    "text_encoders": encoders,
                },
                indent=2,
            )
        )
        return
    table = Table(title="architectures (default configurations; details below)")
    table.add_column("name", no_wrap=True)
    table.add_column("inputs", overflow="fold")
    for column in ("params", "GFLOPs/video", "offline bundle"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in rows:
        cells = [r.name, r.inputs, format_params(r.params), format_gflops(r.gflops_per_video)]
        table.add_row(*cells, r.offline_bundle or "-")
    stdout.print(table)
    for r in rows:
        stdout.print(f"[bold]{r.name}[/]: {escape(r.paper)}", highlight=False)
        stdout.print(f"  pretrained: {escape(r.pretrained)}", highlight=False)
        if r.note:
            stdout.print(f"  note: {escape(r.note)}", highlight=False)
    stdout.print(f"named pretrained models: {', '.join(NAMED)}  ({RESMEM_NOTE})", highlight=False)
    _print_encoders()


def _print_architecture(name: str, as_json: bool) -> None:
    """One architecture's row and its arguments (name, type, default, help, spec-only or not)."""
    from memo.models.catalogue import arguments, catalogue_row, describe_default, format_gflops, format_params
    from memo.models.config import to_json

    args = arguments(name)  # an unknown name: UnknownName with close matches, before any profiling
    row = catalogue_row(name)
    if as_json:
        listed = [{**asdict(a), "default": to_json(a.default)} for a in args]
        print(json.dumps({**row.to_json(), "arguments": listed}, indent=2))
        return
    stdout.print(f"[bold]{row.name}[/]: {escape(row.paper)}", highlight=False)
    stdout.print(f"  inputs (default): {escape(row.inputs)}; unit: {row.unit}", highlight=False)
    stdout.print(
        f"  params: {format_params(row.params)}; GFLOPs/video: {format_gflops(row.gflops_per_video)}",
        highlight=False,
    )
    stdout.print(f"  pretrained: {escape(row.pretrained)}", highlight=False)
    if row.note:
        stdout.print(f"  note: {escape(row.note)}", highlight=False)
    table = Table(title=f"{name} arguments (memo train --model {name} --model-arg KEY=VALUE)")
    for column in ("argument", "type", "default", "stored", "help"):
        table.add_column(column, overflow="fold", no_wrap=column == "argument")
    for a in args:
        stored = "input only" if a.input else "arch_args"
        table.add_row(a.name, escape(a.type), escape(describe_default(a.default)), stored, escape(a.help))
    stdout.print(table)
    stdout.print(
        "stored: arch_args = builds the network (kept in the bundle's config.json arch_args); "
        "input only = shapes the spec's inputs or training metadata",
        highlight=False,
    )


def _print_encoders() -> None:
    """The sentence encoders ``--text-encoder`` takes by name (docs/models.md, "Text encoders")."""
    from memo.data.text_encoders import KNOWN

    table = Table(title="text encoders (--text-encoder NAME, repeat to concatenate)")
    for column in ("name", "dim", "licence", "size", "pip extra", "source"):
        table.add_column(column, overflow="fold")
    for e in KNOWN.values():
        table.add_row(e.name, str(e.dim), e.licence, e.size, escape(f"memo[{e.extra}]"), e.source)
    stdout.print(table)
    stdout.print(
        "any other sentence-transformers model: --text-encoder /path/to/its/folder "
        "(where good ones come from: docs/models.md, Text encoders)",
        highlight=False,
    )
