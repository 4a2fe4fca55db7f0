"""Fixtures for the X12 conformance tests (shared ones in tests/x12_support.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.x12_support import Pyx12Result, pytest_generate_tests, run_pyx12, x12_dir

__all__ = ["pytest_generate_tests", "pyx12", "x12_dir"]


@pytest.fixture(scope="session")
def pyx12() -> Callable[[bytes], Pyx12Result]:
    """pyx12 is a dev dependency: a missing pyx12 fails these tests, it does not skip them."""
    import pyx12 as _pyx12  # noqa: F401

    return run_pyx12
