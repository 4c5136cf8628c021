"""`memo models`: list architectures and named pretrained models (on standard output, to pipe)."""

from __future__ import annotations

from rich.table import Table

from memo.cli.app import RESMEM_NOTE, app, stdout


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
    stdout.print(table)
    stdout.print(f"named pretrained models: {', '.join(NAMED)}  ({RESMEM_NOTE})")
