"""`memo models`: the architectures memo builds and the named pretrained models (on stdout, to pipe)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from memo.cli.app import RESMEM_NOTE, app, stdout


@app.command(
    "models",
    short_help="List the model architectures and pretrained models.",
    help=(
        "List the model architectures: paper, inputs, parameters, GFLOPs per video of the default "
        "configuration (counted on the meta device), pretrained parts and offline bundles.\n\n"
        "Example: memo models --json"
    ),
)
def models_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON on stdout.")] = False,
) -> None:
    from memo.data.text_encoders import KNOWN
    from memo.models.catalogue import catalogue, format_gflops, format_params
    from memo.models.named import NAMED

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
