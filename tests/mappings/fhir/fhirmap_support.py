"""Helpers shared by the FHIR mapping tests (a unique module name: tests have no packages)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.corpus import corpus_dir

FIXED_NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_bytes().decode("utf-8-sig"))


def corpus_resources() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every resource in corpus/fhir: whole files, and each Bundle entry's resource."""
    for path in sorted((corpus_dir() / "fhir").glob("*.json")):
        data = load_json(path)
        if data.get("resourceType") != "Bundle":
            yield path.name, data
            continue
        for index, entry in enumerate(data.get("entry") or []):
            if isinstance(entry.get("resource"), dict):
                yield f"{path.name}#entry[{index}]", entry["resource"]
