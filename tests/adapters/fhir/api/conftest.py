"""Fixtures of the FHIR API tests: the API on SQLite + the embedded transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fhirapi_support import Api, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(f"sqlite:///{tmp_path / 'hub.db'}") as running:
        yield running
