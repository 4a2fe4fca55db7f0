"""What the store hands the core, and what it raises: plain records, status vocabularies and
the store's own errors. No database types here — ``hub.store`` maps its rows onto these, and
the core (pipeline, sync engine, outbound workers) reads them through ``hub.ports``.

The store's errors sit beside Carehub's taxonomy (``hub.errors``), not inside it: they are
neither permanent nor transient, they say that another writer got there first. The caller
re-reads and decides again; left unhandled, the settle step retries the message::

    Exception
    ├── VersionConflict           an optimistic write lost: the record changed since it was read
    └── ConstraintViolation       the database refused a write (a constraint, a trigger)
        └── DuplicateKey          the key is taken: a racing insert of the same key won

Unreachable databases and failed writes are ``hub.errors.StoreUnavailable`` (transient).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "AuditRecord",
    "ConstraintViolation",
    "DeliveryRecord",
    "DeliveryStatus",
    "DuplicateKey",
    "EntityRecord",
    "MessageRecord",
    "MessageStatus",
    "VersionConflict",
]


class MessageStatus(StrEnum):
    """``messages.status``: where a raw message stands. Inbound messages start ``received``
    and end with the pipeline's outcome; outbound copies are ``delivered``."""

    RECEIVED = "received"  # stored, not yet answered
    ACCEPTED = "accepted"  # published and confirmed → AA / CA / 999 A / 2xx
    DUPLICATE = "duplicate"  # a resend: the original answer was repeated
    ERROR = "error"  # well-formed, wrong content → AE / 999 R / 422
    REJECTED = "rejected"  # unreadable → AR / TA1 / 400, or refused before the pipeline
    UNSUPPORTED = "unsupported"  # a type the hub does not handle → AR / 400
    UNAVAILABLE = "unavailable"  # store or broker down: the sender was asked to resend
    DELIVERED = "delivered"  # an outbound message the destination took


class DeliveryStatus(StrEnum):
    """``deliveries.status``: one event's delivery to one destination."""

    DELIVERED = "delivered"
    RETRYING = "retrying"  # a transient failure: in a retry tier
    PARKED = "parked"  # permanent failure or retries exhausted: in the parking queue
    SKIPPED = "skipped"  # not sent: its origin, superseded, or nothing to render


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: str
    direction: str
    system: str
    port: str | None
    format: str
    message_key: str | None
    control_id: str | None
    dedup_key: str | None
    status: MessageStatus
    received_at: datetime
    size: int
    raw: bytes
    findings: list[dict[str, str]]
    ack: bytes | None
    peer: str | None
    correlation_id: str | None
    duplicate_of: str | None
    event_count: int | None
    #: ``hub.ids.content_digest`` of the content; ``None`` for rows stored before schema 3
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    envelope_id: str
    destination: str
    event_kind: str | None
    message_id: str | None
    outbound_message_id: str | None
    status: DeliveryStatus
    attempts: int
    detail: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EntityRecord:
    entity_type: str
    id: str
    version: int
    data: dict[str, Any]
    source: str | None
    updated_at: datetime
    merged_into: str | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    outcome: str
    peer: str | None
    detail: str | None


class VersionConflict(Exception):
    """An optimistic write lost: the entity changed since it was read."""

    def __init__(self, entity_type: str, entity_id: str, expected: int, actual: int):
        super().__init__(f"{entity_type}/{entity_id}: expected version {expected}, found {actual}")
        self.expected = expected
        self.actual = actual


class ConstraintViolation(Exception):
    """The database refused a write: a constraint or a trigger (the append-only audit)."""


class DuplicateKey(ConstraintViolation):
    """A unique key is taken: another writer inserted the same key first."""
