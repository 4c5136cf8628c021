"""The runtime stands alone: it never imports export, trainer, bench or the CLI.

Two checks: every import statement in memo/runtime (including those inside functions, which
a GPU-only path such as loading a TensorRT engine would only run on a GPU), and a real run
in a fresh interpreter where importing those packages raises.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, subprocess_env
from tests.exporthelp import copy_bundle

ABOVE = ("memo.export", "memo.trainer", "memo.bench", "memo.cli")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_runtime_module_imports_a_package_above_it():
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted((REPO / "memo" / "runtime").glob("*.py"))
        for line, module in _imported_modules(path)
        if module.startswith(ABOVE)
    ]
    assert not bad, "\n".join(bad)


def test_the_format_table_is_pure_data():
    """Every layer (and `memo --help`) reads memo/formats.py: it must stay free of heavy imports."""
    modules = {module for _, module in _imported_modules(REPO / "memo" / "formats.py")}
    assert modules <= {"__future__", "dataclasses", "memo.errors"}


BLOCKED_RUN = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    BLOCKED = ("memo.export", "memo.trainer", "memo.bench", "memo.cli")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.startswith(BLOCKED):
                raise ImportError(f"runtime imported {name}")
            return None

    sys.meta_path.insert(0, Block())
    import numpy as np
    import memo.runtime
    from memo.models.bundle import read_bundle
    from memo.runtime import LoadOptions, load_session

    names = [m.name for m in pkgutil.iter_modules(memo.runtime.__path__, "memo.runtime.")]
    for name in names:
        importlib.import_module(name)
    bundle = read_bundle(sys.argv[1])
    x = np.zeros((2, 3, 32, 32), np.float32)
    for backend in ("torch", "onnx", "auto"):
        out = load_session(bundle, backend, "cpu", LoadOptions(threads=1)).run({"frames": x})
        assert out["score"].shape == (2,), backend
    loaded = sorted(m for m in sys.modules if m.startswith(BLOCKED))
    assert not loaded, loaded
    print("ok", len(names), "modules")
    """
)


def test_runtime_runs_with_export_trainer_bench_and_cli_blocked(framecnn_bundle, tmp_path):
    pytest.importorskip("onnxruntime")
    from memo.export import export_onnx

    bundle = copy_bundle(framecnn_bundle, tmp_path / "b")
    export_onnx(bundle, sample_count=2)
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, str(bundle.path)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok") and int(proc.stdout.split()[1]) >= 8
