"""Golden files for the mapping tests: compare, or rewrite with CAREHUB_REGEN_GOLDEN=1 (then
review the diff by eye: a golden is only as right as the person who read it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hub.canonical import Event

__all__ = ["REGEN", "check_golden", "clean", "dump_events"]

REGEN = os.environ.get("CAREHUB_REGEN_GOLDEN") == "1"


def clean(value: Any) -> Any:
    """A JSON value with None, empty lists and empty objects dropped, for readable goldens."""
    if isinstance(value, dict):
        out = {k: clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def dump_events(events: list[Event]) -> list[Any]:
    """Events as JSON, without their ids: a mapping leaves ``Event.id`` at its random
    default, the pipeline gives the stable one (``hub.ids``, pinned by tests/hub/test_ids.py)."""
    return [clean(e.model_dump(mode="json", exclude={"id"})) for e in events]


def check_golden(directory: Path, name: str, actual: Any) -> None:
    """Compare ``actual`` (text, or a JSON value) with ``directory/name``."""
    path = directory / name
    if isinstance(actual, str):
        text = actual
    else:
        text = json.dumps(actual, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if REGEN:
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        raise AssertionError(f"golden file {path.name} is missing; run with CAREHUB_REGEN_GOLDEN=1")
    assert path.read_text(encoding="utf-8") == text, f"differs from golden/{name}"
