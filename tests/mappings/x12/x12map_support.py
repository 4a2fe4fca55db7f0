"""Shared helpers for the X12 mapping tests: contexts, options, corpus files, goldens, pyx12."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.x12 import TransactionSet, counter_allocator, parse
from hub.canonical import Event
from hub.context import MapContext
from mappings.vocab import load_vocabulary
from mappings.x12.outbound import OutboundOptions
from tests.corpus import corpus_dir

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
REGEN = os.environ.get("CAREHUB_REGEN_GOLDEN") == "1"
RECEIVED = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
VOCAB = load_vocabulary()


corpus_root = corpus_dir


X12_CORPUS = corpus_root() / "x12"


def corpus_files() -> list[Path]:
    return sorted(p for p in X12_CORPUS.iterdir() if p.is_file())


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.suffix == ".edi")


def context(**overrides: Any) -> MapContext:
    """A context with the built-in vocabulary and fixed ids/times, so output is stable."""
    fields: dict[str, Any] = {
        "source_system": "partner",
        "format": "x12",
        "source_port": "x12-inbox",
        "message_id": "msg-0001",
        "received_at": RECEIVED,
        "vocab": VOCAB,
    }
    fields.update(overrides)
    return MapContext(**fields)


def options(**overrides: Any) -> OutboundOptions:
    """Outbound options for a test partner with a fresh control-number counter and clock."""
    fields: dict[str, Any] = {
        "sender_id": "CAREHUB",
        "receiver_id": "PAYER01",
        "next_control": counter_allocator(),
        "submitter_name": "CAREHUB BILLING",
        "submitter_contact": "EDI DESK",
        "submitter_phone": "8005551212",
        "receiver_name": "ACME CLEARINGHOUSE",
        "patient_status": "01",
        "usage": "T",
        "clock": lambda: datetime(2024, 7, 1, 12, 30),
    }
    fields.update(overrides)
    return OutboundOptions(**fields)


def sets(path: Path) -> list[TransactionSet]:
    return list(parse(path.read_bytes()).transaction_sets())


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
    if isinstance(actual, str):
        text = actual
    else:
        text = json.dumps(actual, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if REGEN:
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        raise AssertionError(f"golden file {path.name} is missing; run with CAREHUB_REGEN_GOLDEN=1")
    assert path.read_text(encoding="utf-8") == text, f"differs from golden/{name}"


def segment_lines(data: bytes) -> str:
    """An interchange as one segment per line (for golden X12 files a reviewer can read)."""
    return data.decode("latin-1").replace("~", "~\n")


def walk(value: Any) -> Iterator[Any]:
    """Every nested value of a JSON-like structure."""
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)
