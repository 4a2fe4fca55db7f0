"""Fixtures for the X12 codec tests: the shared corpus, by path (never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus import corpus_dir


def x12_corpus_dir() -> Path:
    return corpus_dir() / "x12"


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
