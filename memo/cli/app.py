"""The typer application, its consoles and the helpers every command shares.

Options that mean the same on every command:

* ``-v/--verbose`` and ``--log FILE`` are memo's own (``memo -v score ...`` and
  ``memo score ... -v`` both work: :class:`MemoGroup` moves them in front of the command);
  ``--log`` writes every event, row by row, with a timestamp.
* ``-q/--quiet`` and ``--json`` belong to each command; wherever they are given, progress
  bars of other libraries (tqdm, sentence-transformers, transformers, Hugging Face Hub)
  are silenced too, so a cron log or a JSON pipe holds memo's output only.

When a stream is not a terminal, its console is very wide: a table piped to a file keeps
whole paths on one line instead of wrapping them letter by letter at 80 columns.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from memo import __version__

RESMEM_NOTE = (
    "The default model 'resmem' uses the ResMem weights (c) 2021 The University of Chicago, "
    "licensed for non-commercial use only."
)
GLOBAL_FLAGS = ("-v", "--verbose")
GLOBAL_VALUED = ("--log",)
QUIET_FLAGS = ("-q", "--quiet", "--json")
PIPE_WIDTH = 10_000  # columns of a console that is not a terminal: never wrap a path


def hoist_global_options(args: list[str]) -> list[str]:
    """Move ``-v``/``--verbose``/``--log FILE`` given after the command in front of it."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg in GLOBAL_FLAGS or arg.startswith("--log="):
            front.append(arg)
        elif arg in GLOBAL_VALUED and i + 1 < len(args):
            front += [arg, args[i + 1]]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def silence_third_party() -> None:
    """No progress bars or chatter from the libraries memo drives (set before they load)."""
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    for name in ("sentence_transformers", "transformers", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def quiet_model_loading() -> None:
    """No "Loading weights: 103/103" bars from Hugging Face libraries while memo loads a text
    encoder: memo reports its own progress (a user's own setting of these variables wins)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class MemoGroup(TyperGroup):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        quiet_model_loading()
        args = hoist_global_options(list(args))
        options = args[: args.index("--")] if "--" in args else args
        if any(a in QUIET_FLAGS for a in options):
            silence_third_party()
        return super().parse_args(ctx, args)


def make_console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    terminal = hasattr(stream, "isatty") and stream.isatty()
    return Console(stderr=stderr, width=None if terminal else PIPE_WIDTH, soft_wrap=not terminal)


app = typer.Typer(
    name="memo",
    cls=MemoGroup,
    help="Predict how memorable a video is: score folders of videos, train models, export and benchmark them.",
    epilog=RESMEM_NOTE,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = make_console(stderr=True)  # progress, messages, errors
stdout = make_console(stderr=False)  # listings a user pipes (memo models)


def _version(value: bool) -> None:
    if value:
        print(f"memo {__version__}")
        raise typer.Exit()


def setup_logging(verbose: bool, log_file: Path | None) -> None:
    """Console: warnings (``-v``: what memo does); ``--log``: every event with a timestamp."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_memo", False):
            root.removeHandler(handler)
    screen = logging.StreamHandler(sys.stderr)
    screen.setLevel(logging.INFO if verbose else logging.WARNING)
    screen.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handlers: list[Any] = [screen]
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise fail(f"--log {log_file}: cannot write ({exc.strerror or exc})") from None
        file.setLevel(logging.DEBUG)
        file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(file)
        logging.getLogger("memo").setLevel(logging.DEBUG)
    for handler in handlers:
        handler._memo = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO if verbose or log_file else logging.WARNING)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what memo is doing (also after the command).")
    ] = False,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="Also write every event, with a timestamp, to this file (appended)."),
    ] = None,
) -> None:
    setup_logging(verbose, log)


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    logging.getLogger("memo.cli").debug("error: %s", message)  # --log only: the screen has it
    return typer.Exit(code)
