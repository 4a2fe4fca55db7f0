"""Shared helpers for the HL7 v2 mapping tests: contexts, golden files, strict validation."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.hl7v2 import Message, parse, split_messages
from hub.canonical import Event
from hub.context import MapContext
from mappings.vocab import load_vocabulary
from tests.corpus import corpus_dir

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
REGEN = os.environ.get("CAREHUB_REGEN_GOLDEN") == "1"
RECEIVED = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
VOCAB = load_vocabulary()


corpus_root = corpus_dir


HL7_CORPUS = corpus_root() / "hl7v2"


def context(**overrides: Any) -> MapContext:
    """A context with the built-in vocabulary and fixed ids/times, so output is stable."""
    fields: dict[str, Any] = {
        "source_system": "ehr",
        "format": "hl7v2",
        "source_port": "mllp-in",
        "message_id": "msg-0001",
        "received_at": RECEIVED,
        "vocab": VOCAB,
    }
    fields.update(overrides)
    return MapContext(**fields)


def load(path: Path, index: int = 0) -> Message:
    """The ``index``-th message of a file (corpus files may hold several)."""
    return parse(split_messages(path.read_bytes())[index])


def clean(value: Any) -> Any:
    """A JSON value with None, empty lists and empty objects dropped, for readable goldens."""
    if isinstance(value, dict):
        out = {k: clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def dump_events(events: list[Event]) -> list[Any]:
    return [clean(e.model_dump(mode="json")) for e in events]


def check_golden(name: str, actual: Any) -> None:
    """Compare with ``golden/<name>``; CAREHUB_REGEN_GOLDEN=1 rewrites it instead."""
    path = GOLDEN / name
    if name.endswith(".json"):
        text = json.dumps(actual, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    else:
        text = actual
    if REGEN or not path.exists():
        if not REGEN:
            raise AssertionError(
                f"golden file {path.name} is missing; run with CAREHUB_REGEN_GOLDEN=1"
            )
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"differs from golden/{name}"


def strict_errors(raw: bytes) -> list[dict[str, str]]:
    """The error findings of hl7apy STRICT validation (conformance.hl7v2.validate_strict)."""
    from conformance.hl7v2 import validate_strict

    return [f.as_dict() for f in validate_strict(raw).errors]
