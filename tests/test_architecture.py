"""The import contracts cover what they mean to cover.

A forbidden contract names its source modules one by one, so a core module added later
would escape "The core (but its store) imports no SQLAlchemy, aiohttp or pika" unless it is
listed. This test lists ``hub/`` and fails for any module that is not.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORE_CONTRACT = "The core (but its store) imports no SQLAlchemy, aiohttp or pika"


def _contract(name: str) -> dict[str, Any]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    (found,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == name]
    return dict(found)


def _modules(package: str) -> list[str]:
    """Every module and package under ``package``, as dotted names."""
    root = REPO / package
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _covered(module: str, sources: list[str]) -> bool:
    """Listed itself, or inside a listed package (import-linter checks its descendants)."""
    return any(module == s or module.startswith(s + ".") for s in sources)


def test_every_core_module_but_the_store_is_in_the_core_contract():
    contract = _contract(CORE_CONTRACT)
    sources = list(contract["source_modules"])
    assert {"sqlalchemy", "aiohttp", "pika"} <= set(contract["forbidden_modules"])
    assert "hub" not in sources and not any(_covered(s, ["hub.store"]) for s in sources)
    core = [m for m in _modules("hub") if m != "hub" and not _covered(m, ["hub.store"])]
    missing = [m for m in core if not _covered(m, sources)]
    assert not missing, f"add to the contract's source_modules in pyproject.toml: {missing}"


def test_the_core_package_itself_imports_nothing():
    """``hub`` cannot be listed (it would take the store in); its ``__init__`` stays empty
    of imports so that it cannot be a way around the contract."""
    tree = ast.parse((REPO / "hub" / "__init__.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
