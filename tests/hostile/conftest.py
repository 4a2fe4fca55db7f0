from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from carehub.app.hub import Hub
from tests.hostile.hubkit import running_hub


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    async with running_hub(tmp_path, monkeypatch) as h:
        yield h
