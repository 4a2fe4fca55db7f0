"""Fixtures for the FHIR mapping tests."""

from __future__ import annotations

import pytest
from fhirmap_support import FIXED_NOW

from mappings.fhir import MapContext


@pytest.fixture
def ctx() -> MapContext:
    """A context with a fixed clock, so written ``created`` values are stable."""
    return MapContext(source="ehr", clock=lambda: FIXED_NOW)
