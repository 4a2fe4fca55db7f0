"""Shared helpers for the HL7 v2 mapping tests: contexts, golden files, strict validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.hl7v2 import Message, parse, split_messages
from hub.context import MapContext
from mappings.vocab import load_vocabulary
from tests import golden
from tests.corpus import corpus_dir

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
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


def raw_message(path: Path, index: int = 0) -> bytes:
    """The bytes of the ``index``-th message of a file (corpus files may hold several)."""
    return split_messages(path.read_bytes())[index]


def load(path: Path, index: int = 0) -> Message:
    """The ``index``-th message of a file, parsed."""
    return parse(raw_message(path, index))


def check_golden(name: str, actual: Any) -> None:
    """Compare with ``golden/<name>``; CAREHUB_REGEN_GOLDEN=1 rewrites it instead."""
    golden.check_golden(GOLDEN, name, actual)


def strict_errors(raw: bytes) -> list[dict[str, str]]:
    """The error findings of hl7apy STRICT validation (conformance.hl7v2.validate_strict)."""
    from conformance.hl7v2 import validate_strict

    return [f.as_dict() for f in validate_strict(raw).errors]
