"""The typer application, its console and the helpers every command shares."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from memo import __version__

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


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
