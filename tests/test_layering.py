"""Imports point down: cli -> trainer/export/bench -> runtime/models/data -> memo.fsio/errors.

Walks every file's syntax tree (imports inside functions included), so a lazy import
that climbs a layer is caught as well as a top-level one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, subprocess_env

LOW = ("runtime", "models", "data")
HIGH = ("memo.trainer", "memo.export", "memo.bench", "memo.cli")


def imported_modules(path: Path, root: Path = REPO) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found += [(node.lineno, module)]
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def upward_imports(root: Path = REPO) -> list[str]:
    bad = {}
    for layer in LOW:
        for path in sorted((root / "memo" / layer).rglob("*.py")):
            for line, module in imported_modules(path, root):
                if any(module == high or module.startswith(high + ".") for high in HIGH):
                    bad.setdefault(f"{path.relative_to(root)}:{line}", f"imports {module}")
    return [f"{where} {what}" for where, what in sorted(bad.items())]


def test_the_walker_sees_lazy_relative_and_from_imports(tmp_path: Path) -> None:
    probe = tmp_path / "memo" / "data" / "probe.py"
    probe.parent.mkdir(parents=True)
    lines = ["def f():", "    from memo.cli import app", "    from ..export import formats", "    import memo.bench.rows",
             "    from memo import trainer", "    from memo.data import text"]  # fmt: skip
    probe.write_text("\n".join(lines) + "\n")
    assert upward_imports(tmp_path) == [
        "memo/data/probe.py:2 imports memo.cli",
        "memo/data/probe.py:3 imports memo.export",
        "memo/data/probe.py:4 imports memo.bench.rows",
        "memo/data/probe.py:5 imports memo.trainer",
    ]


def test_runtime_models_and_data_never_import_trainer_export_bench_or_cli() -> None:
    assert upward_imports() == []


def test_the_registry_imports_no_model_and_is_full_when_imported_alone() -> None:
    registry = REPO / "memo" / "models" / "registry.py"
    own = [m for _, m in imported_modules(registry) if m.startswith("memo.")]
    assert all(m.startswith(("memo.errors", "memo.models.spec")) for m in own), own
    code = "from memo.models.registry import list_models; print(' '.join(list_models()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(),
                         cwd=REPO, check=True)  # fmt: skip
    assert {"fusion-mlp", "resmem", "framecnn"} <= set(out.stdout.split())


def test_general_helpers_live_outside_models() -> None:
    import memo.models.bundle
    import memo.models.named

    assert not hasattr(memo.models.bundle, "write_json_atomic")
    assert "memo_home" not in vars(memo.models.named) or memo.models.named.memo_home.__module__ == "memo.fsio"
