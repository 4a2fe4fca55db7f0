"""The embedded in-process transport: the broker contract with nothing installed.

It honours what :class:`queues.amqp.AmqpTransport` does on RabbitMQ — topic routing with
RabbitMQ's rules, a publish that returns once the message is queued, per-consumer prefetch,
ack / retry / park with the same headers, retry tiers that hold a message for their delay
(asyncio timers) and send it back, a delivery limit that parks a message its consumers keep
abandoning, unacked messages returned (``redelivered=True``) when their consumer goes away,
replay of parked messages and queue depths — so the same contract tests run against both.

It is **not durable**: everything it holds lives in this process and is gone when the
process stops. Use it for tests, the demo and single-machine runs that accept that.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.envelope import Envelope, RawEnvelope
from hub.errors import BrokerUnavailable, ConfigError
from hub.ports import QueueSpec, Topology
from queues.delivery import BaseDelivery, ParkedMessage, original_routing_key, replay_headers
from queues.topology import check_destination, route

__all__ = ["MemoryDelivery", "MemorySubscription", "MemoryTransport"]


@dataclass(slots=True)
class _Message:
    body: bytes
    headers: dict[str, Any]
    routing_key: str
    #: deliveries that ended without a settle (RabbitMQ's ``x-delivery-count``)
    returns: int = 0


@dataclass(eq=False)
class _Queue:
    """One queue: ready messages in order, and the consumers waiting for them."""

    spec: QueueSpec
    ready: deque[_Message] = field(default_factory=deque)
    waiters: set[asyncio.Future[None]] = field(default_factory=set)

    def wake(self) -> None:
        for fut in self.waiters:
            if not fut.done():
                fut.set_result(None)
        self.waiters.clear()

    async def changed(self) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.waiters.add(fut)
        try:
            await fut
        finally:
            self.waiters.discard(fut)


class MemoryTransport:
    """In-process :class:`hub.ports.Transport`; ``delay_scale`` shrinks retry-tier delays."""

    def __init__(self, *, delay_scale: float = 1.0) -> None:
        if delay_scale <= 0:
            raise ValueError("delay_scale must be positive")
        self._scale = delay_scale
        self._topology: Topology | None = None
        self._queues: dict[str, _Queue] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._subscriptions: set[MemorySubscription] = set()
        self._closed = False

    # ----------------------------------------------------------------------- lifecycle

    async def start(self, topology: Topology) -> None:
        """Create the queues of ``topology`` (empty)."""
        if self._topology is not None:
            raise RuntimeError("transport already started")
        self._topology = topology
        self._queues = {spec.name: _Queue(spec) for spec in topology.queues}

    async def close(self) -> None:
        """Stop consumers and timers; what is still queued is dropped (not durable)."""
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for sub in list(self._subscriptions):
            await sub.aclose()
        for q in self._queues.values():
            q.wake()

    async def __aenter__(self) -> MemoryTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._topology is not None and not self._closed

    @property
    def topology(self) -> Topology:
        if self._topology is None:
            raise RuntimeError("transport not started")
        return self._topology

    # ----------------------------------------------------------------------- publish

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope | RawEnvelope,
        headers: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the Transport contract's parameter
    ) -> None:
        """Queue ``envelope`` on every queue bound to ``routing_key``; returns when queued."""
        if not self.connected:
            raise BrokerUnavailable("memory transport is not running")
        check_destination(self.topology, exchange, routing_key)
        body = envelope.to_bytes()
        for name in route(self.topology, exchange, routing_key):
            self._enqueue(name, _Message(body, dict(headers or {}), routing_key))

    def _enqueue(self, name: str, msg: _Message) -> None:
        q = self._queues[name]
        q.ready.append(msg)
        if q.spec.delay_seconds is not None:
            self._schedule_expiry(q)
        q.wake()

    def _schedule_expiry(self, q: _Queue) -> None:
        # One timer per message; every message of a tier has the same delay, so the timer
        # firing now always belongs to the oldest message (FIFO), as with a per-queue TTL.
        delay = (q.spec.delay_seconds or 0) * self._scale
        handle: asyncio.TimerHandle | None = None

        def expire() -> None:
            if handle is not None:
                self._timers.discard(handle)
            if q.ready and q.spec.dead_letter_to:
                msg = q.ready.popleft()
                target = q.spec.dead_letter_to
                self._enqueue(target, _Message(msg.body, msg.headers, target))

        handle = asyncio.get_running_loop().call_later(delay, expire)
        self._timers.add(handle)

    # ----------------------------------------------------------------------- consume

    def consume(self, queue: str, *, prefetch: int = 100) -> MemorySubscription:
        """Deliveries from work queue ``queue``, at most ``prefetch`` unsettled at a time."""
        if queue not in self.topology.parking:
            raise ConfigError(f"{queue} is not a work queue of the topology", location=queue)
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        sub = MemorySubscription(self, self._queues[queue], prefetch)
        self._subscriptions.add(sub)
        return sub

    def _give_back(self, q: _Queue, msgs: list[_Message]) -> None:
        """Unsettled messages of a departed consumer: back to the head, or parked at the limit."""
        limit = q.spec.delivery_limit
        for msg in reversed(msgs):
            msg.returns += 1
            if limit is not None and msg.returns > limit and q.spec.dead_letter_to:
                self._dead_letter(q, msg, "delivery_limit")
            else:
                q.ready.appendleft(msg)
        q.wake()

    def _dead_letter(self, q: _Queue, msg: _Message, reason: str) -> None:
        target = q.spec.dead_letter_to or ""
        # the headers RabbitMQ adds when it dead-letters (a subset: no time, no count)
        death = {"reason": reason, "queue": q.spec.name, "routing-keys": [msg.routing_key]}
        headers = {
            **msg.headers,
            "x-death": [death, *msg.headers.get("x-death", [])],
            "x-first-death-reason": reason,
            "x-first-death-queue": q.spec.name,
        }
        self._enqueue(target, _Message(msg.body, headers, target))

    # ----------------------------------------------------------------------- operations

    async def replay_parked(self, queue: str, limit: int | None = None) -> int:
        """Move up to ``limit`` parked messages of work queue ``queue`` back to it."""
        parked = self._queues[self.topology.parking[queue]]
        count = len(parked.ready) if limit is None else min(limit, len(parked.ready))
        for _ in range(count):
            msg = parked.ready.popleft()
            key = original_routing_key(msg.headers, msg.routing_key)
            headers = replay_headers(msg.headers, key)
            self._enqueue(queue, _Message(msg.body, headers, queue))
        return count

    async def peek_parked(self, queue: str, limit: int = 100) -> list[ParkedMessage]:
        """The first ``limit`` parked messages of work queue ``queue``, left where they are."""
        parked = self._queues[self.topology.parking[queue]]
        return [
            ParkedMessage(m.body, dict(m.headers), original_routing_key(m.headers, m.routing_key))
            for m in list(parked.ready)[:limit]
        ]

    async def queue_depths(self) -> dict[str, int]:
        """Ready (not in-flight) messages per queue of the topology."""
        return {name: len(q.ready) for name, q in self._queues.items()}


class MemorySubscription:
    """An async iterator of :class:`MemoryDelivery`; ``aclose()`` returns what is unsettled."""

    def __init__(self, transport: MemoryTransport, queue: _Queue, prefetch: int) -> None:
        self._transport = transport
        self._queue = queue
        self._prefetch = prefetch
        self._inflight: dict[int, _Message] = {}
        self._closed = False

    def __aiter__(self) -> MemorySubscription:
        return self

    async def __anext__(self) -> MemoryDelivery:
        while True:
            if self._closed or not self._transport.connected:
                raise StopAsyncIteration
            if len(self._inflight) < self._prefetch and self._queue.ready:
                return self._deliver(self._queue.ready.popleft())
            await self._queue.changed()

    def _deliver(self, msg: _Message) -> MemoryDelivery:
        self._inflight[id(msg)] = msg
        headers = dict(msg.headers)
        if msg.returns:
            headers["x-delivery-count"] = msg.returns
        return MemoryDelivery(self, msg, headers)

    async def aclose(self) -> None:
        """Stop consuming; unsettled deliveries go back to the queue, marked redelivered."""
        if self._closed:
            return
        self._closed = True
        self._transport._subscriptions.discard(self)
        returned, self._inflight = list(self._inflight.values()), {}
        self._transport._give_back(self._queue, returned)

    async def __aenter__(self) -> MemorySubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class MemoryDelivery(BaseDelivery):
    """A message handed out by a :class:`MemorySubscription`."""

    def __init__(self, sub: MemorySubscription, msg: _Message, headers: dict[str, Any]) -> None:
        super().__init__(
            topology=sub._transport.topology,
            queue=sub._queue.spec.name,
            body=msg.body,
            headers=headers,
            routing_key=msg.routing_key,
            redelivered=msg.returns > 0,
        )
        self._sub = sub
        self._msg = msg

    def _alive(self) -> bool:
        return id(self._msg) in self._sub._inflight and not self._sub._closed

    async def _ack(self) -> None:
        self._sub._inflight.pop(id(self._msg), None)
        self._sub._queue.wake()

    async def _requeue(self) -> None:
        self._sub._inflight.pop(id(self._msg), None)
        self._sub._transport._give_back(self._sub._queue, [self._msg])

    async def _republish(self, queue: str, headers: dict[str, Any]) -> None:
        transport = self._sub._transport
        if not transport.connected:
            raise BrokerUnavailable("memory transport is not running")
        transport._enqueue(queue, _Message(self._msg.body, headers, queue))
