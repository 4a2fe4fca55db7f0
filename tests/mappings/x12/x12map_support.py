"""Shared helpers for the X12 mapping tests: contexts, options, corpus files, goldens, pyx12."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.x12 import TransactionSet, counter_allocator, parse
from hub.context import MapContext
from mappings.vocab import load_vocabulary
from mappings.x12.outbound import X12OutboundOptions
from tests import golden
from tests.corpus import corpus_dir

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
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


def options(**overrides: Any) -> X12OutboundOptions:
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
    return X12OutboundOptions(**fields)


def sets(path: Path) -> list[TransactionSet]:
    return list(parse(path.read_bytes()).transaction_sets())


def check_golden(name: str, actual: Any) -> None:
    """Compare with ``golden/<name>``; CAREHUB_REGEN_GOLDEN=1 rewrites it instead."""
    golden.check_golden(GOLDEN, name, actual)


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
