"""Consume a queue with a handler, in lanes that keep order per business key.

Deliveries of one entity (one patient, one claim, one purchase order) go to the same lane
and are handled one after another; different entities run in parallel. Every delivery is
settled in one place (``queues.settle``): the handler returns → ack; raises → retry or park.
A consumer that records failures (the outbound worker) is told afterwards what the settle
step did (``settled``), before the lane takes its next delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from hub.envelope import Envelope
from hub.errors import ParseError
from hub.ports import Delivery, OnSettled, Transport
from queues import SettleResult, settling_as

__all__ = ["LaneConsumer", "business_key"]

log = logging.getLogger("carehub.consumer")

Handler = Callable[[Delivery], Awaitable[None]]


def business_key(env: Envelope) -> str:
    """The key whose order matters: the entity's canonical id, else its first identifier."""
    entity = env.payload.entity
    if entity.id:
        return f"{entity.entity_type.value}/{entity.id}"
    if entity.identifiers:
        ident = entity.identifiers[0]
        return f"{entity.entity_type.value}/{ident.system}|{ident.value}"
    return env.id


class LaneConsumer:
    """One consumer of ``queue`` with ``lanes`` ordered lanes."""

    def __init__(
        self,
        transport: Transport,
        queue: str,
        handler: Handler,
        *,
        lanes: int = 8,
        prefetch: int = 200,
        name: str | None = None,
        settled: OnSettled | None = None,
        read: Callable[[Delivery], Any] | None = None,
    ):
        self.transport = transport
        self.queue = queue
        self.handler = handler
        self.settled = settled
        #: decodes a delivery's body before the handler runs (an ``Envelope`` unless told
        #: otherwise: a raw pass-through queue reads ``hub.outbound.raw_envelope``); a body
        #: it cannot decode is parked unhandled
        self.read: Callable[[Delivery], Any] = read or _envelope_of
        self.lanes = [asyncio.Queue[Delivery](maxsize=prefetch) for _ in range(lanes)]
        self.prefetch = prefetch
        self.name = name or queue
        self.handled = 0
        self._handling = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def in_flight(self) -> int:
        """Deliveries taken from the broker and not yet settled (in lanes or in hand)."""
        return self._handling + sum(q.qsize() for q in self.lanes)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._lane(q), name=f"{self.name}-lane{i}")
            for i, q in enumerate(self.lanes)
        ]
        self._tasks.append(asyncio.create_task(self._dispatch(), name=f"{self.name}-dispatch"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _dispatch(self) -> None:
        async for delivery in self.transport.consume(self.queue, prefetch=self.prefetch):
            try:
                key = business_key(delivery.envelope)
            except Exception:
                key = delivery.routing_key
            lane = self.lanes[zlib.crc32(key.encode()) % len(self.lanes)]
            await lane.put(delivery)

    async def _lane(self, lane: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await lane.get()
            self._handling += 1
            try:
                with contextlib.suppress(ParseError):  # not an envelope: settling() parked it
                    result = SettleResult()
                    async with settling_as(delivery, self.read, result):
                        await self.handler(delivery)
                    await self._tell(delivery, result)
            finally:
                self._handling -= 1
            self.handled += 1

    async def _tell(self, delivery: Delivery, result: SettleResult) -> None:
        """Pass what the settle step did with a failed delivery on to ``settled``."""
        if self.settled is None or result.error is None or result.outcome is None:
            return
        try:
            await self.settled(delivery, result.outcome, result.error)
        except Exception as exc:
            # the broker has settled it already; the record is behind, the lane goes on
            log.warning(
                "%s: recording a settled delivery failed: %s", self.name, type(exc).__name__
            )


def _envelope_of(delivery: Delivery) -> Envelope:
    return delivery.envelope
