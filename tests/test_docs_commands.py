"""Every command README.md and docs/ show runs as written (the cheap ones are run) and names
only options its command has (read from the CLI's own parameter lists, nothing is run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, subprocess_env
from tests.docs_commands import (
    DOCS,
    REPO,
    Command,
    fenced_commands,
    flags_of,
    memo_flags,
    prose_flags,
    prose_memo_commands,
)


def _memo_commands() -> list[Command]:
    found = [c for path in DOCS for c in [*fenced_commands(path), *prose_memo_commands(path)]]
    return [c for c in found if c.is_memo]


def test_the_docs_show_memo_commands() -> None:
    commands = _memo_commands()
    assert len(commands) > 40 and any(c.source.startswith("README.md") for c in commands)


def test_every_flag_the_docs_name_exists_on_its_command() -> None:
    top, commands = memo_flags()
    wrong = []
    for command in _memo_commands():
        name, flags = flags_of(command)
        if name is not None and name.isupper():  # memo COMMAND --help: a placeholder
            continue
        if name is not None and name not in commands:
            wrong.append(f"{command.source}: no command {name!r} in {command.text()!r}")
            continue
        known = top | (commands[name] if name else set())
        wrong += [f"{command.source}: memo {name or ''} has no {f}" for f in flags if f not in known]
    assert not wrong, "\n".join(wrong)


def test_every_option_named_in_the_prose_exists() -> None:
    """A bare `--flag` in the prose is an option of some memo command, or of a command (a
    benchmark script) that the docs show in full."""
    top, commands = memo_flags()
    shown = {
        w.split("=", 1)[0] for p in DOCS for c in fenced_commands(p) for w in c.words if w.startswith("--")
    }
    known = top.union(*commands.values(), shown)
    wrong = [f"{where}: {flag}" for path in DOCS for where, flag in prose_flags(path) if flag not in known]
    assert not wrong, "no such option:\n" + "\n".join(wrong)


def _cheap(command: Command) -> bool:
    name, flags = flags_of(command)
    if name is not None and name.isupper():
        return False
    if command.words[-1] == "--help":
        return True
    if name == "models":
        return True
    return name == "train" and "--check" in flags


def test_the_cheap_readme_commands_run_as_written(tmp_path: Path) -> None:
    """After the Quickstart (`source .venv/bin/activate`), `memo` is on the PATH: here a shim
    runs this checkout's CLI under that name, and each command goes through bash as written."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "memo").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m memo "$@"\n')
    (shim / "memo").chmod(0o755)
    env = subprocess_env(PATH=f"{shim}{os.pathsep}{os.environ.get('PATH', '')}")
    cheap = [c for c in fenced_commands(REPO / "README.md") if c.is_memo and _cheap(c)]
    assert any(c.words[-1] == "--help" for c in cheap) and any(flags_of(c)[0] == "models" for c in cheap)
    for command in cheap:
        if "../shared/" in command.text() and not SHARED_DATA.is_dir():
            continue  # a --check of the real data: only where ../shared is
        run = subprocess.run(
            ["bash", "-c", command.text()], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, f"{command.source}: {command.text()}\n{run.stderr[-2000:]}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_docs_install_commands_run_from_the_checkout(path: Path) -> None:
    """`pip install 'memo[x]'` would fetch another project from PyPI: the docs install extras
    from the checkout (`pip install -e '.[x]'`)."""
    bad = [c.source for c in fenced_commands(path) if c.words[:2] == ["pip", "install"]
           and any(w.startswith("memo[") for w in c.words)]  # fmt: skip
    assert not bad, bad


def test_quickstart_has_a_slim_user_line_and_the_ci_test_line() -> None:
    """Two command lines: the user's (slim install, then score) and the tests' (full install),
    which is exactly what .ci/run runs."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    lines = [b.split("```", 1)[0].strip() for b in quickstart.split("```bash")[1:]]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert (
        lines[0].startswith("bash scripts/setup.sh &&")
        and "--dev" not in lines[0]
        and "memo score" in lines[0]
    )
    assert lines[1] == "bash scripts/setup.sh --dev && .venv/bin/python -m pytest -q"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == lines[1]
