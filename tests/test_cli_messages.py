"""Error messages reach the terminal as written: rich markup is escaped once, not twice."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import memo_command, subprocess_env


@pytest.mark.parametrize("command", ["export", "bench"])
def test_brackets_in_a_missing_bundle_path_print_literally(tmp_path: Path, command: str) -> None:
    (tmp_path / "runs").mkdir()
    done = subprocess.run([*memo_command(), command, "runs/[exp1]"], cwd=tmp_path, capture_output=True,
                          text=True, env=subprocess_env(COLUMNS="200"), timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "error: runs/[exp1]: no such bundle directory" in done.stderr
    assert "\\[" not in done.stderr
