"""Fixtures for the X12 codec tests: the shared corpus, by path (never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve()


def x12_corpus_dir() -> Path:
    """CAREHUB_CORPUS/x12, else ``shared/corpus/x12`` found walking up from the repo."""
    env = os.environ.get("CAREHUB_CORPUS")
    if env:
        return Path(env) / "x12"
    for parent in _HERE.parents:
        candidate = parent / "shared" / "corpus" / "x12"
        if candidate.is_dir():
            return candidate
    return _HERE.parents[3].parent / "shared" / "corpus" / "x12"


def x12_files() -> list[Path]:
    directory = x12_corpus_dir()
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test asking for ``x12_file`` over the whole X12 corpus."""
    if "x12_file" in metafunc.fixturenames:
        files = x12_files()
        if not files:
            pytest.fail(f"no X12 corpus at {x12_corpus_dir()}; set CAREHUB_CORPUS")
        metafunc.parametrize("x12_file", files, ids=[p.name[:60] for p in files])


@pytest.fixture(scope="session")
def x12_dir() -> Path:
    directory = x12_corpus_dir()
    if not directory.is_dir():
        pytest.fail(f"no X12 corpus at {directory}; set CAREHUB_CORPUS")
    return directory
