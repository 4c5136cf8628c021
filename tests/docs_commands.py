"""The commands README.md and docs/*.md show, read back out of them (for tests/test_docs_commands.py).

A fenced ``bash`` block is a list of command lines (a trailing backslash continues a line,
``#`` starts a comment, ``&&`` / ``|`` / ``;`` separate commands); in prose, a code span that
starts with ``memo `` is a command too. ``memo_flags`` names, per memo command, every
option it has, read from the CLI itself (click's parameter lists), so a flag the docs name
and the CLI lacks is found without running anything.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_SEPARATORS = {"&&", "||", "|", ";"}
MEMO_PROGRAMS = {"memo", ".venv/bin/memo"}


@dataclass(frozen=True)
class Command:
    source: str  # file:line
    words: list[str]  # one command, shell words, comments removed

    @property
    def is_memo(self) -> bool:
        return bool(self.words) and self.words[0] in MEMO_PROGRAMS

    def text(self) -> str:
        return shlex.join(self.words)


def _split(words: list[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for word in words:
        if word in _SEPARATORS:
            parts.append([])
        else:
            parts[-1].append(word)
    return [p for p in parts if p]


def fenced_commands(path: Path) -> list[Command]:
    """Every command of the file's ``bash`` blocks, one per shell command."""
    text = path.read_text(encoding="utf-8")
    out: list[Command] = []
    for block in _FENCE.finditer(text):
        if block.group(1) not in ("bash", "sh", "shell"):
            continue
        first_line = text.count("\n", 0, block.start(2)) + 1
        logical = block.group(2).replace("\\\n", " ")
        for offset, line in enumerate(logical.splitlines()):
            for words in _split(shlex.split(line, comments=True)):
                while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                    words = words[1:]  # VAR=value before the program
                if words:
                    out.append(Command(f"{path.name}:{first_line + offset}", words))
    return out


def prose_memo_commands(path: Path) -> list[Command]:
    """Code spans in the prose that are memo command lines (``memo score ... --resume``)."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        for span in _SPAN.findall(line):
            if span.startswith("memo ") and "..." not in span:
                try:
                    words = shlex.split(span)
                except ValueError:
                    continue
                out.append(Command(f"{path.name}:~{number}", words))
    return out


def prose_flags(path: Path) -> list[tuple[str, str]]:
    """``(file:line, --flag)`` for every code span in the prose that is a bare long option."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for span in _SPAN.findall(line):
            match = re.fullmatch(r"(--[a-z0-9][a-z0-9-]*)(?:[ =].*)?", span)
            if match:
                found.append((f"{path.name}:~{number}", match.group(1)))
    return found


def memo_flags() -> tuple[set[str], dict[str, set[str]]]:
    """(the options of ``memo`` itself, {command: its options}) from the CLI's own parameter lists."""
    import typer

    from memo.cli import app

    group = typer.main.get_command(app)
    top = _options(group.params) | {"--help"}
    commands = {name: _options(cmd.params) | {"--help"} for name, cmd in group.commands.items()}  # type: ignore[attr-defined]
    return top, commands


def _options(params) -> set[str]:  # type: ignore[no-untyped-def]
    names: set[str] = set()
    for param in params:
        names.update(o for o in [*param.opts, *param.secondary_opts] if o.startswith("-"))
    return names


def flags_of(command: Command) -> tuple[str | None, list[str]]:
    """(memo subcommand, the long options the command line uses)."""
    words = command.words[1:]
    name = None
    flags = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word == "--log":  # memo's global option takes a value
            skip = True
        if word.startswith("--"):
            flags.append(word.split("=", 1)[0])
        elif name is None and not word.startswith("-"):
            name = word
    return name, flags
