"""The seams between the hub core and everything that touches the outside world.

All contracts live here as Protocols; implementations live in ``adapters/``, ``queues/`` and
``hub/store``. ``carehub.app`` is the one place that picks implementations and wires them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

from hub.envelope import Envelope

__all__ = [
    "Binding",
    "Codec",
    "Delivered",
    "Deliverer",
    "Delivery",
    "ExchangeSpec",
    "OnSettled",
    "QueueSpec",
    "Rendered",
    "Settlement",
    "Topology",
    "Transport",
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
        envelope: Envelope,
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
