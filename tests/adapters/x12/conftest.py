"""Fixtures for the X12 codec tests (shared ones in tests/x12_support.py)."""

from tests.x12_support import pytest_generate_tests, x12_dir

__all__ = ["pytest_generate_tests", "x12_dir"]
