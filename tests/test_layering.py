"""Imports point down: cli -> trainer/export/bench -> runtime/models/data -> memo.fsio/errors,
and no two modules of memo import each other, directly or through others.

Walks every file's syntax tree (imports inside functions included), so a lazy import
that climbs a layer or closes a cycle is caught as well as a top-level one. Imports under
``if TYPE_CHECKING:`` are types only and never run: they count for neither.
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
    allowed = ("memo.errors", "memo.models.spec", "memo.registry", "memo.models.config")
    for module in ("registry.py", "config.py"):  # the config base class a registry entry names
        own = [m for _, m in imported_modules(REPO / "memo" / "models" / module) if m.startswith("memo.")]
        assert all(m.startswith(allowed) for m in own), (module, own)
    code = "from memo.models.registry import list_models; print(' '.join(list_models()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(),
                         cwd=REPO, check=True)  # fmt: skip
    assert {"fusion-mlp", "resmem", "framecnn"} <= set(out.stdout.split())


def test_general_helpers_live_outside_models() -> None:
    import memo.models.bundle
    import memo.models.named

    assert not hasattr(memo.models.bundle, "write_json_atomic")
    assert "memo_home" not in vars(memo.models.named) or memo.models.named.memo_home.__module__ == "memo.fsio"


def _runtime_imports(path: Path, root: Path) -> list[str]:
    """The modules ``path`` imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    lines = {node.lineno for node in ast.walk(tree) if id(node) in typing_only and hasattr(node, "lineno")}
    return [module for line, module in imported_modules(path, root) if line not in lines]


def import_cycles(root: Path = REPO) -> list[list[str]]:
    """Every set of memo modules that import each other (strongly connected components > 1)."""
    files = {".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): f
             for f in (root / "memo").rglob("*.py")}  # fmt: skip
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for module in _runtime_imports(path, root):
            while module and module not in files:
                module = module.rpartition(".")[0]
            # a package and its own modules are one unit: their imports of each other do not count
            if (
                module
                and module != name
                and not name.startswith(module + ".")
                and not module.startswith(name + ".")
            ):
                targets.add(module)
        graph[name] = targets
    reach = {name: _reachable(graph, name) for name in graph}
    cycles = {
        tuple(sorted(m for m in reach[name] if name in reach[m])) for name in graph if name in reach[name]
    }
    return sorted(list(c) for c in cycles)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def test_the_cycle_walk_finds_a_cycle_through_a_lazy_import_and_skips_typing_imports(tmp_path: Path) -> None:
    package = tmp_path / "memo" / "pkg"
    package.mkdir(parents=True)
    (tmp_path / "memo" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from memo.pkg import a\n")
    (package / "a.py").write_text("from memo.pkg.b import g\n")
    (package / "b.py").write_text("def g():\n    from memo.pkg import c\n")
    (package / "c.py").write_text("from memo.pkg.a import x\n")
    (package / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from memo.pkg import e\n"
    )
    (package / "e.py").write_text("import memo.pkg.d\n")
    assert import_cycles(tmp_path) == [["memo.pkg.a", "memo.pkg.b", "memo.pkg.c"]]


def test_no_module_of_any_package_of_memo_imports_itself_through_others() -> None:
    assert import_cycles() == []
