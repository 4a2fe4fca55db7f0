"""What both transports share about one delivered message: its headers and how it is settled.

A delivery is settled exactly once — :meth:`BaseDelivery.ack`, :meth:`~BaseDelivery.retry`
or :meth:`~BaseDelivery.park`; a second call raises ``RuntimeError``. Retry and park first
publish a copy (confirmed) to the retry tier or parking queue, *then* ack the original, so a
crash in between duplicates rather than loses (downstream dedupes on the envelope id).

Carehub's headers (``x-carehub-*``), set by the settle step, read by operators and replay::

    x-carehub-attempt        retry tiers passed so far (absent or 0 on the first try)
    x-carehub-last-error     the reason given to the last retry
    x-carehub-history        ["<utc timestamp> <attempt> <reason>", ...], oldest first
    x-carehub-routing-key    the original routing key (a tier hop replaces the broker's one)
    x-carehub-park-reason    why the message was parked
    x-carehub-parked-at      when (UTC, ISO 8601)
    x-carehub-source-queue   the work queue it was parked from
    x-carehub-park-detail    JSON object with the error's code and location

RabbitMQ's own ``x-delivery-count`` (quorum queues: deliveries before this one) is exposed as
:attr:`BaseDelivery.delivery_count`; a message the broker parked itself because it hit the
work queue's delivery limit carries ``x-first-death-reason: delivery_limit`` instead of a
carehub park reason (:func:`park_reason` reads either).
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from hub.envelope import Envelope
from hub.errors import BrokerUnavailable, ParseError
from hub.ports import Settlement, Topology

__all__ = [
    "ATTEMPT",
    "HISTORY",
    "LAST_ERROR",
    "PARKED_AT",
    "PARK_DETAIL",
    "PARK_REASON",
    "ROUTING_KEY",
    "SOURCE_QUEUE",
    "BaseDelivery",
    "ParkedMessage",
    "attempt_of",
    "history_of",
    "original_routing_key",
    "park_headers",
    "park_reason",
    "replay_headers",
    "retry_headers",
]

log = logging.getLogger(__name__)

ATTEMPT = "x-carehub-attempt"
LAST_ERROR = "x-carehub-last-error"
HISTORY = "x-carehub-history"
ROUTING_KEY = "x-carehub-routing-key"
PARK_REASON = "x-carehub-park-reason"
PARKED_AT = "x-carehub-parked-at"
SOURCE_QUEUE = "x-carehub-source-queue"
PARK_DETAIL = "x-carehub-park-detail"

#: headers the broker adds on delivery or dead-lettering; never copied onto a republish,
#: where they would mislead (a stale ``x-delivery-count``) or grow without bound (``x-death``)
_BROKER_HEADERS = frozenset(
    {
        "x-death",
        "x-delivery-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
_PARK_HEADERS = frozenset({PARK_REASON, PARKED_AT, SOURCE_QUEUE, PARK_DETAIL})


def attempt_of(headers: Mapping[str, Any]) -> int:
    """``x-carehub-attempt`` as an int, 0 when absent or unreadable."""
    try:
        return max(0, int(headers.get(ATTEMPT, 0)))
    except (TypeError, ValueError):
        return 0


def history_of(headers: Mapping[str, Any]) -> list[str]:
    """``x-carehub-history`` as a list of strings (empty when absent)."""
    raw = headers.get(HISTORY)
    if not isinstance(raw, list | tuple):
        return []
    return [v.decode() if isinstance(v, bytes) else str(v) for v in raw]


def original_routing_key(headers: Mapping[str, Any], fallback: str) -> str:
    """The routing key a message was first published with.

    Dead-lettering and tier hops replace the broker's routing key with a queue name; the
    original survives in ``x-carehub-routing-key`` (set by retry and park) or, for what the
    broker dead-lettered itself, in the oldest ``x-death`` entry's ``routing-keys``.
    """
    key = headers.get(ROUTING_KEY)
    if key:
        return key.decode() if isinstance(key, bytes) else str(key)
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[-1], Mapping):
        keys = deaths[-1].get("routing-keys")  # x-death lists the newest death first
        if isinstance(keys, list) and keys:
            return keys[0].decode() if isinstance(keys[0], bytes) else str(keys[0])
    return fallback


def park_reason(headers: Mapping[str, Any]) -> str | None:
    """Why a parked message was parked: carehub's reason, or the broker's dead-letter reason."""
    reason = headers.get(PARK_REASON) or headers.get("x-first-death-reason")
    return reason.decode() if isinstance(reason, bytes) else reason


def retry_headers(
    headers: Mapping[str, Any], routing_key: str, reason: str, now: datetime | None = None
) -> dict[str, Any]:
    """Headers for the copy sent to the next retry tier: attempt + 1, reason, history."""
    attempt = attempt_of(headers) + 1
    out = _carried(headers, routing_key)
    out[ATTEMPT] = attempt
    out[LAST_ERROR] = reason
    out[HISTORY] = [*history_of(headers), f"{_stamp(now)} {attempt} {reason}"]
    return out


def park_headers(
    headers: Mapping[str, Any],
    routing_key: str,
    source_queue: str,
    reason: str,
    *,
    detail: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Headers for the copy sent to the parking queue: reason, time, source, detail."""
    stamp = _stamp(now)
    out = _carried(headers, routing_key)
    out[PARK_REASON] = reason
    out[PARKED_AT] = stamp
    out[SOURCE_QUEUE] = source_queue
    out[PARK_DETAIL] = json.dumps(dict(detail or {}), default=str, sort_keys=True)
    out[HISTORY] = [*history_of(headers), f"{stamp} {attempt_of(headers)} parked: {reason}"]
    return out


def replay_headers(headers: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    """Headers for a parked message sent back to its work queue: attempt reset, history kept."""
    out = {k: v for k, v in _carried(headers, routing_key).items() if k not in _PARK_HEADERS}
    out[ATTEMPT] = 0
    return out


def _carried(headers: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    out = {k: v for k, v in headers.items() if k not in _BROKER_HEADERS}
    out.setdefault(ROUTING_KEY, routing_key)
    return out


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A parked message as an operator sees it (from ``peek_parked``); nothing is settled."""

    body: bytes
    headers: Mapping[str, Any]
    #: the routing key it was first published with
    routing_key: str

    @property
    def reason(self) -> str | None:
        return park_reason(self.headers)

    @property
    def detail(self) -> dict[str, Any]:
        """``x-carehub-park-detail`` decoded (empty when absent)."""
        raw = self.headers.get(PARK_DETAIL)
        if isinstance(raw, bytes):
            raw = raw.decode()
        parsed = json.loads(raw) if isinstance(raw, str) else {}
        return parsed if isinstance(parsed, dict) else {}

    @property
    def history(self) -> list[str]:
        return history_of(self.headers)

    @property
    def envelope(self) -> Envelope:
        return Envelope.from_bytes(self.body)


class BaseDelivery(ABC):
    """One message handed to a consumer of work queue ``queue``; settle it exactly once.

    Subclasses supply the four transport primitives: is the consumer still there
    (``_alive``), acknowledge, requeue, and publish a copy to a named queue (confirmed).
    """

    def __init__(
        self,
        *,
        topology: Topology,
        queue: str,
        body: bytes,
        headers: Mapping[str, Any] | None,
        routing_key: str,
        redelivered: bool,
    ) -> None:
        self._topology = topology
        self._queue = queue
        self._body = body
        self._headers: Mapping[str, Any] = MappingProxyType(dict(headers or {}))
        self._routing_key = routing_key
        self._redelivered = redelivered
        self._envelope: Envelope | None = None
        self._settled = False

    # ----------------------------------------------------------------------- what it is

    @property
    def envelope(self) -> Envelope:
        """The decoded body; raises ``ParseError`` (permanent) when it is no Envelope."""
        if self._envelope is None:
            try:
                self._envelope = Envelope.from_bytes(self._body)
            except ValidationError as exc:
                raise ParseError("message body is not a carehub envelope", code="envelope") from exc
        return self._envelope

    @property
    def body(self) -> bytes:
        return self._body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self._headers

    @property
    def queue(self) -> str:
        """The work queue this was delivered from."""
        return self._queue

    @property
    def routing_key(self) -> str:
        """The routing key it was first published with (kept across retry tiers and replay)."""
        return original_routing_key(self._headers, self._routing_key)

    @property
    def redelivered(self) -> bool:
        return self._redelivered

    @property
    def attempt(self) -> int:
        return attempt_of(self._headers)

    @property
    def delivery_count(self) -> int:
        """The broker's ``x-delivery-count``: earlier deliveries that were not settled."""
        try:
            return int(self._headers.get("x-delivery-count", 0))
        except (TypeError, ValueError):
            return 0

    @property
    def settled(self) -> bool:
        return self._settled

    # ----------------------------------------------------------------------- settling

    async def ack(self) -> None:
        """The work is durable: forget the message."""
        self._claim()
        if self._alive():
            await self._ack()

    async def retry(self, reason: str) -> Settlement:
        """Send to the next retry tier with attempt + 1; park when no tier is left.

        The one place "retries exhausted" is decided; the answer says which happened."""
        self._claim()
        if not self._alive():
            return Settlement.RETRIED  # the broker hands it out again
        tiers = self._topology.retry_tiers.get(self._queue, ())
        if self.attempt >= len(tiers):
            await self._park(f"retries exhausted: {reason}", {"last_error": reason})
            return Settlement.PARKED
        headers = retry_headers(self._headers, self.routing_key, reason)
        await self._forward(tiers[self.attempt], headers)
        return Settlement.RETRIED

    async def park(self, reason: str, detail: Mapping[str, Any] | None = None) -> Settlement:
        """Move to the parking queue with ``reason`` and ``detail`` in the headers."""
        self._claim()
        if not self._alive():
            return Settlement.RETRIED  # the broker hands it out again
        await self._park(reason, detail)
        return Settlement.PARKED

    def _claim(self) -> None:
        if self._settled:
            raise RuntimeError("delivery already settled")
        self._settled = True

    async def _park(self, reason: str, detail: Mapping[str, Any] | None) -> None:
        headers = park_headers(self._headers, self.routing_key, self._queue, reason, detail=detail)
        await self._forward(self._topology.parking[self._queue], headers)

    async def _forward(self, target: str, headers: dict[str, Any]) -> None:
        """Publish a copy to ``target`` (confirmed), then ack; requeue if the copy failed."""
        try:
            await self._republish(target, headers)
        except BrokerUnavailable:
            # The broker still has the original: hand it back rather than lose track of it.
            if self._alive():
                await self._requeue()
            log.warning("settle of a delivery from %s fell back to requeue", self._queue)
            raise
        if self._alive():
            await self._ack()

    # ----------------------------------------------------------------------- primitives

    @abstractmethod
    def _alive(self) -> bool:
        """False once the consumer (AMQP: its channel) is gone; the broker then redelivers."""

    @abstractmethod
    async def _ack(self) -> None: ...

    @abstractmethod
    async def _requeue(self) -> None: ...

    @abstractmethod
    async def _republish(self, queue: str, headers: dict[str, Any]) -> None:
        """Publish this body with ``headers`` to ``queue`` via the default exchange, confirmed."""
