"""Fixtures for the FHIR mapping tests."""

from __future__ import annotations

import pytest
from fhirmap_support import FIXED_NOW

from mappings.fhir import FhirMapContext


@pytest.fixture
def ctx() -> FhirMapContext:
    """A context with a fixed clock, so written ``created`` values are stable."""
    return FhirMapContext(source="ehr", clock=lambda: FIXED_NOW)
