"""The API adapter's modules import each other one way only, and only at module top: no
import cycle is dodged with an import inside a function."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import grimp

import adapters.fhir.api

PACKAGE = Path(adapters.fhir.api.__file__).parent


def test_no_import_inside_a_function() -> None:
    nested = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                nested += [
                    f"{path.name}:{node.lineno}"
                    for node in ast.walk(func)
                    if isinstance(node, ast.Import | ast.ImportFrom)
                ]
    assert nested == []


def test_no_import_cycle_between_the_modules() -> None:
    graph = grimp.build_graph("adapters")
    modules = sorted(m for m in graph.modules if m.startswith("adapters.fhir.api."))
    assert "adapters.fhir.api.interactions" in modules
    cycles = [
        (a, b)
        for a, b in itertools.combinations(modules, 2)
        if graph.chain_exists(a, b) and graph.chain_exists(b, a)
    ]
    assert cycles == []
