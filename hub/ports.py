"""The seams between the hub core and everything that touches the outside world.

All contracts live here as Protocols; implementations live in ``adapters/``, ``queues/`` and
``hub/store``. ``carehub.app`` is the one place that picks implementations and wires them.
The store's records and errors are in ``hub.records``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

from hub.envelope import Envelope, RawEnvelope
from hub.records import (
    AuditRecord,
    DeliveryRecord,
    DeliveryStatus,
    EntityRecord,
    MessageRecord,
    MessageStatus,
)

__all__ = [
    "AuditTrail",
    "Binding",
    "Codec",
    "ControlNumbers",
    "CrossReference",
    "Delivered",
    "Deliverer",
    "Delivery",
    "DeliveryLog",
    "EntityState",
    "ExchangeSpec",
    "MessageLog",
    "OnSettled",
    "PassesThrough",
    "QueueSpec",
    "Rendered",
    "Settlement",
    "Store",
    "SyncLog",
    "Topology",
    "Transport",
    "Unit",
]

N = TypeVar("N")


@runtime_checkable
class Codec(Protocol[N]):
    """Wire bytes ↔ a format's native model. Never maps, never does I/O."""

    def parse(self, data: bytes) -> N:
        """Parse ``data``; raises ``ParseError`` (permanent) on malformed input."""
        ...

    def render(self, native: N) -> bytes: ...


# --------------------------------------------------------------------------- topology values


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    name: str
    type: str = "topic"
    durable: bool = True
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue. ``role`` is ``work`` (consumed), ``retry`` (a delay tier) or ``parking``."""

    name: str
    role: str = "work"
    quorum: bool = True
    arguments: Mapping[str, Any] = field(default_factory=dict)
    #: for a retry tier: how long a message waits before it returns to ``dead_letter_to``
    delay_seconds: float | None = None
    #: the queue a message returns to after the delay (retry tier) or after too many
    #: deliveries (a work queue's delivery limit → its parking queue)
    dead_letter_to: str | None = None
    #: for a work queue: how many times the broker delivers a message before parking it
    delivery_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Binding:
    exchange: str
    queue: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Topology:
    """Exchanges, queues and bindings as plain values; a transport declares them."""

    exchanges: tuple[ExchangeSpec, ...] = ()
    queues: tuple[QueueSpec, ...] = ()
    bindings: tuple[Binding, ...] = ()
    #: work queue → its retry tiers in order of growing delay
    retry_tiers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: work queue → its parking queue
    parking: Mapping[str, str] = field(default_factory=dict)

    def queue(self, name: str) -> QueueSpec:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)


# --------------------------------------------------------------------------- transport


class Settlement(StrEnum):
    """What the settle step did with a delivery on the broker — the one decision a
    consumer records (``hub.outbound`` writes it into the store's delivery record)."""

    ACKED = "acked"
    #: sent to its next retry tier; also when the broker kept the message because the copy
    #: could not be made or the consumer was gone (it is handed out again either way)
    RETRIED = "retried"
    #: moved to the parking queue: a permanent error, or a transient one with no tier left
    PARKED = "parked"
    #: the handler settled the delivery itself
    SETTLED_BY_HANDLER = "settled_by_handler"


class Delivery(Protocol):
    """One message handed to a consumer. Settled exactly once: ack, retry or park."""

    @property
    def envelope(self) -> Envelope: ...

    @property
    def body(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, Any]: ...

    @property
    def routing_key(self) -> str: ...

    @property
    def redelivered(self) -> bool: ...

    @property
    def attempt(self) -> int:
        """How many times handling was tried before (retry tiers passed), 0 on the first."""
        ...

    @property
    def settled(self) -> bool: ...

    async def ack(self) -> None:
        """The work is durable: forget the message."""
        ...

    async def retry(self, reason: str) -> Settlement:
        """Transient failure: send to the next retry tier, or park when none is left.

        Returns which it did (``RETRIED`` or ``PARKED``): this is the only place that
        decides whether retries are exhausted."""
        ...

    async def park(self, reason: str, detail: Mapping[str, Any] | None = None) -> Settlement:
        """Permanent failure: move to the parking queue with the reason in the headers.

        Returns ``PARKED``, or ``RETRIED`` when the consumer was gone (the broker keeps it)."""
        ...


class OnSettled(Protocol):
    """Told what the settle step did with a delivery the handler failed on, after it did
    it, so a consumer's records say what happened on the broker rather than a guess."""

    async def __call__(
        self, delivery: Delivery, settlement: Settlement, error: BaseException
    ) -> None: ...


class Transport(Protocol):
    """The broker contract. RabbitMQ (pika) and the embedded transport both honour it."""

    async def start(self, topology: Topology) -> None:
        """Connect and declare ``topology``; re-declared after every reconnect."""
        ...

    async def close(self) -> None: ...

    @property
    def connected(self) -> bool: ...

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope | RawEnvelope,
        headers: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline for the confirm
    ) -> None:
        """Return only when the broker has confirmed the message.

        Raises ``BrokerUnavailable`` when it could not be confirmed within ``timeout``.
        """
        ...

    def consume(self, queue: str, *, prefetch: int = 100) -> AsyncIterator[Delivery]:
        """Deliveries from ``queue``, across reconnects, until the transport closes."""
        ...

    async def replay_parked(self, queue: str, limit: int | None = None) -> int:
        """Move parked messages of work queue ``queue`` back to it; returns how many."""
        ...

    async def queue_depths(self) -> dict[str, int]: ...


# --------------------------------------------------------------------------- outbound


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendered:
    """One envelope made ready for one destination, nothing sent yet: what will go out, and
    the key a partner recognises a resend by. Deliverers extend it with what ``send`` needs.
    """

    format: str
    message_key: str | None = None
    #: the wire bytes, recorded as the outbound message; None when they exist only once
    #: sent (an X12 interchange takes its control numbers when it is written)
    body: bytes | None = None
    #: how the partner recognises a resend: ``X-Idempotency-Key``, MSH-10, the file name
    idempotency_key: str | None = None
    #: why nothing is sent: the destination's format has no rendering for this event
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class Delivered:
    """What an outbound delivery did: what we rendered, and what the partner answered."""

    format: str
    message_key: str | None = None
    rendered: bytes | None = None
    response: str | None = None  # short, PHI-free summary (status code, MSA-1, …)
    #: nothing was sent: the destination's format has no rendering for this event kind
    skipped: bool = False


R = TypeVar("R", bound=Rendered)


class Deliverer(Protocol[R]):
    """One destination's outbound line: ``render`` (pure) then ``send`` (I/O).

    ``render`` maps the canonical event to the destination's format, validates it and
    chooses the idempotency or conditional-update key; it mutates nothing, and rendering the
    same envelope twice gives equal results. It raises ``MappingError``/``ValidationFailed``
    (permanent) for what cannot be rendered, and returns ``skipped`` set for an event kind
    the format has no rendering for.

    ``send`` delivers what ``render`` made. It raises ``PartnerRejected`` (permanent: parked
    with the partner's text) or ``PartnerUnavailable``/``DeliveryTimeout`` (transient:
    retried). It must be idempotent for the same envelope id: a retry of a delivered
    envelope must not apply twice at the partner.
    """

    def render(self, envelope: Envelope) -> R: ...

    async def send(self, rendered: R) -> Delivered: ...

    async def close(self) -> None: ...


@runtime_checkable
class PassesThrough(Protocol):
    """A deliverer that also sends raw messages as they came (``hub.passthru``): the HL7 v2
    deliverer. ``render_raw`` is pure — the sender's bytes with the header rewritten for the
    destination, and the control id a resend keeps — and ``send`` is the deliverer's own."""

    def render_raw(self, envelope: RawEnvelope) -> Rendered: ...

    async def send(self, rendered: Any) -> Delivered: ...


# --------------------------------------------------------------------------- store
#
# One protocol per table family. ``Unit`` is all of them inside one transaction; ``Store``
# runs each operation in a transaction of its own and opens units. ``hub.store.SqlStore``
# implements them over SQLAlchemy; the core sees only these.


class MessageLog(Protocol):
    """``messages``: the raw log, inbound and outbound, byte for byte."""

    async def record_message(
        self,
        *,
        direction: str,
        system: str,
        format: str,
        raw: bytes,
        port: str | None = None,
        status: MessageStatus = MessageStatus.RECEIVED,
        message_key: str | None = None,
        control_id: str | None = None,
        dedup_key: str | None = None,
        peer: str | None = None,
        correlation_id: str | None = None,
        message_id: str | None = None,
        digest: str | None = None,
    ) -> str:
        """Store raw bytes durably and return the message id. Nothing is acknowledged before."""
        ...

    async def update_message(self, message_id: str, **fields: Any) -> None:
        """Set status, message_key, control_id, dedup_key, findings, ack, duplicate_of, …"""
        ...

    async def get_message(self, message_id: str) -> MessageRecord | None: ...

    async def find_accepted_duplicate(
        self,
        system: str,
        dedup_key: str,
        statuses: Sequence[MessageStatus] = (MessageStatus.ACCEPTED,),
        *,
        digest: str | None = None,
    ) -> MessageRecord | None:
        """The earliest message from ``system`` with ``dedup_key`` whose answer was final;
        with ``digest``, the earliest with that content digest if there is one, else the
        earliest under the key."""
        ...

    async def list_messages(
        self,
        *,
        status: MessageStatus | Sequence[MessageStatus] | None = None,
        system: str | None = None,
        direction: str | None = None,
        limit: int = 100,
        oldest_first: bool = False,
    ) -> list[MessageRecord]: ...

    async def message_counts(self) -> dict[str, int]:
        """Messages per ``direction:status``."""
        ...


class DeliveryLog(Protocol):
    """``deliveries``: one row per (envelope, destination)."""

    async def record_delivery(
        self,
        *,
        envelope_id: str,
        destination: str,
        status: DeliveryStatus,
        attempts: int,
        event_kind: str | None = None,
        message_id: str | None = None,
        outbound_message_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Insert or update the delivery row for (envelope, destination)."""
        ...

    async def get_delivery(self, envelope_id: str, destination: str) -> DeliveryRecord | None: ...

    async def list_deliveries(
        self,
        *,
        destination: str | None = None,
        status: DeliveryStatus | None = None,
        message_id: str | None = None,
        limit: int = 1000,
    ) -> list[DeliveryRecord]: ...

    async def delivery_counts(self) -> dict[str, int]:
        """Deliveries per ``destination:status``."""
        ...


class EntityState(Protocol):
    """``entities`` and ``entity_versions``: canonical records, every version kept."""

    async def get_entity(self, entity_type: str, entity_id: str) -> EntityRecord | None: ...

    async def save_entity(
        self,
        entity_type: str,
        entity_id: str,
        data: dict[str, Any],
        *,
        source: str | None,
        event_id: str | None = None,
        event_kind: str | None = None,
        expected_version: int | None = None,
        known_version: int | None = None,
        merged_into: str | None = None,
    ) -> int:
        """Write a new version and return its number; ``VersionConflict`` when
        ``expected_version`` is not the current one (somebody else wrote in between)."""
        ...

    async def entity_history(self, entity_type: str, entity_id: str) -> list[EntityRecord]: ...

    async def entity_version(
        self, entity_type: str, entity_id: str, version: int
    ) -> EntityRecord | None: ...

    async def list_entities(
        self,
        entity_type: str,
        *,
        ids: Iterable[str] | None = None,
        updated_since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[EntityRecord]: ...

    async def event_kind_counts(self) -> dict[str, int]: ...

    async def count_entities(self, entity_type: str | None = None) -> dict[str, int]: ...


class CrossReference(Protocol):
    """``xrefs`` (identifiers → canonical ids), ``match_keys`` (demographic keys) and
    ``refs`` (which record points at which)."""

    async def link_identifiers(
        self,
        entity_type: str,
        canonical_id: str,
        identifiers: Iterable[tuple[str, str]],
        *,
        source: str | None = None,
    ) -> int:
        """Link (namespace, value) pairs to ``canonical_id``; returns how many were new.
        A pair linked to another canonical id is left alone."""
        ...

    async def resolve_identifiers(
        self, entity_type: str, identifiers: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], str]: ...

    async def find_by_identifier(
        self, entity_type: str, value: str, namespace: str | None = None
    ) -> list[str]: ...

    async def identifiers_of(self, entity_type: str, canonical_id: str) -> list[dict[str, str]]: ...

    async def repoint_identifiers(self, entity_type: str, from_id: str, to_id: str) -> int:
        """Move every identifier of ``from_id`` to ``to_id`` (a merge)."""
        ...

    async def unlink_identifiers(
        self, entity_type: str, canonical_id: str, identifiers: Iterable[tuple[str, str]]
    ) -> int:
        """Unlink (namespace, value) pairs from ``canonical_id`` (an identifier retired)."""
        ...

    async def set_match_keys(
        self, entity_type: str, canonical_id: str, keys: Iterable[str]
    ) -> None: ...

    async def find_by_match_key(
        self, entity_type: str, key: str, limit: int | None = None
    ) -> list[str]: ...

    async def set_refs(
        self, from_type: str, from_id: str, targets: Iterable[tuple[str, str]]
    ) -> None: ...

    async def referring(
        self, to_type: str, to_id: str, from_type: str | None = None
    ) -> list[tuple[str, str]]: ...


class SyncLog(Protocol):
    """The sync engine's books: ``processed`` event ids, ``sync_log`` decisions, match
    ``reviews``, and what each destination was last ``sent``."""

    async def mark_processed(self, consumer: str, event_id: str) -> bool:
        """Record that ``consumer`` applied ``event_id``; False if it already had."""
        ...

    async def was_processed(self, consumer: str, event_id: str) -> bool: ...

    async def log_sync(
        self,
        *,
        entity_type: str,
        entity_id: str,
        outcome: str,
        event_id: str | None = None,
        event_kind: str | None = None,
        source: str | None = None,
        detail: str | None = None,
    ) -> None: ...

    async def was_applied(self, event_id: str, entity_type: str, entity_id: str) -> bool: ...

    async def sync_history(self, entity_type: str, entity_id: str) -> list[dict[str, Any]]: ...

    async def sync_outcomes(self) -> dict[str, int]: ...

    async def open_review(
        self, entity_type: str, record_id: str, candidates: Sequence[str], rule: str
    ) -> None: ...

    async def close_review(self, review_id: int, status: str) -> bool: ...

    async def reviews(self, status: str | None = "open") -> list[dict[str, Any]]: ...

    async def record_sent(
        self,
        destination: str,
        entity_type: str,
        entity_id: str,
        content: dict[str, Any],
        version: int | None = None,
    ) -> None: ...

    async def sent_version(
        self, destination: str, entity_type: str, entity_id: str
    ) -> int | None: ...

    async def last_sent(
        self, destination: str, entity_type: str, entity_id: str
    ) -> dict[str, Any] | None: ...


class ControlNumbers(Protocol):
    """``control_numbers``: ISA13, GS06, ST02, MSH-10 per partner; never reused."""

    async def next_control_number(
        self, partner: str, kind: str, *, start: int = 1, maximum: int = 999_999_999
    ) -> int: ...

    async def reserve_control_numbers(
        self, partner: str, kind: str, count: int, *, start: int = 1
    ) -> int:
        """Reserve ``count`` consecutive numbers; returns the first."""
        ...


class AuditTrail(Protocol):
    """``audit``: append-only. Never PHI in ``subject`` or ``detail``."""

    async def audit(
        self,
        *,
        actor: str,
        action: str,
        outcome: str,
        subject: str | None = None,
        peer: str | None = None,
        detail: str | None = None,
    ) -> None: ...

    async def audit_trail(
        self, *, action: str | None = None, subject: str | None = None, limit: int = 100
    ) -> list[AuditRecord]: ...


class Unit(
    MessageLog,
    DeliveryLog,
    EntityState,
    CrossReference,
    SyncLog,
    ControlNumbers,
    AuditTrail,
    Protocol,
):
    """Every store operation, inside one transaction: committed together or not at all."""


class Store(Unit, Protocol):
    """Every store operation, each in a transaction of its own, and units of several.

    Database errors come out as ``StoreUnavailable`` (transient); ``DuplicateKey`` and
    ``VersionConflict`` (``hub.records``) when another writer got there first."""

    @classmethod
    async def open(cls, url: str | None = None, *, create: bool = True) -> Self:
        """Connect to ``url`` and, with ``create``, create or migrate the schema."""
        ...

    async def close(self) -> None: ...

    async def migrate(self) -> None: ...

    async def ping(self) -> bool: ...

    def unit(self) -> AbstractAsyncContextManager[Unit]:
        """``async with store.unit() as unit``: several operations in one transaction."""
        ...
