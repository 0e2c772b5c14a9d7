# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The package's import graph has no cycle (module-level and deferred imports alike), and each module of
the evaluation package imports on its own in a fresh interpreter without pulling in transformers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mcc_hf"


def _modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every module of mcc_hf, with ``mcc_hf.pipelines`` read from the top-level
    ``pipelines/`` folder that setup.py installs under that name."""
    found = {}
    folders = [(PACKAGE, ("mcc_hf",)), (PACKAGE.parent / "pipelines", ("mcc_hf", "pipelines"))]
    for folder, prefix in folders:
        for path in folder.rglob("*.py"):
            parts = [*prefix, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The mcc_hf modules ``name`` imports anywhere in its body (functions included, TYPE_CHECKING blocks not)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    stack = [ast.parse(path.read_text(encoding="utf-8"))]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            continue
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)  # "from . import metrics"
    return {t for t in targets if t in modules and t != name}


def _cycles_through(prefix: str) -> list[list[str]]:
    modules = _modules()
    graph = {name: _imported(name, path, modules) for name, path in modules.items()}
    cycles = []
    for start in sorted(n for n in graph if n.startswith(prefix)):
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(trail + [start])
                elif nxt not in trail:
                    stack.append((nxt, trail + [nxt]))
    return cycles


def test_the_evaluation_import_graph_has_no_cycle():
    modules = _modules()
    assert {"mcc_hf.evaluation.runner", "mcc_hf.evaluation.report", "mcc_hf.evaluation.results"} <= set(modules)
    runner = _imported("mcc_hf.evaluation.runner", modules["mcc_hf.evaluation.runner"], modules)
    assert "mcc_hf.evaluation.report" in runner and "mcc_hf.evaluation.results" in runner  # the scan sees imports
    assert _cycles_through("mcc_hf.evaluation") == []


def test_the_package_import_graph_has_no_cycle():
    modules = _modules()
    assert "mcc_hf.pipelines.pipeline_talking_head" in modules
    assert "mcc_hf.pipelines.pipeline_talking_head" in _imported("mcc_hf.cli.animate", modules["mcc_hf.cli.animate"], modules)
    assert _cycles_through("mcc_hf") == []


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    package = tmp_path / "mcc_hf"
    (package / "evaluation").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "evaluation" / "__init__.py").write_text("")
    (package / "evaluation" / "a.py").write_text("from .b import x\n")
    (package / "evaluation" / "b.py").write_text("def f():\n    from . import a\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert _cycles_through("mcc_hf.evaluation.a") == [["mcc_hf.evaluation.a", "mcc_hf.evaluation.b", "mcc_hf.evaluation.a"]]


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(n for n in _modules() if n.startswith("mcc_hf.evaluation")))
def test_each_evaluation_module_imports_first_in_a_fresh_interpreter(module):
    code = f"import sys, {module}; assert 'transformers' not in sys.modules, 'transformers imported eagerly'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
