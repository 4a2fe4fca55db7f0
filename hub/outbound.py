"""The outbound worker: one per destination system.

Takes events from the destination's queue, never sends a change back to the system it came
from, goes one straight line through the destination's ``Deliverer`` — ``render`` (pure:
map, validate, key) then ``send`` (I/O) — and records every delivery. Handlers raise; the
caller's single settle point acks, retries or parks, and then tells
:meth:`OutboundWorker.settled` which it did: a failed delivery is recorded as what the broker
did with it (retrying, or parked — the queue alone decides when retries run out).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import ValidationError

from hub.canonical import EventKind
from hub.envelope import Envelope, RawEnvelope
from hub.errors import ParseError, PermanentError
from hub.faults import fault_point
from hub.ports import Delivered, Deliverer, Delivery, PassesThrough, Settlement, Store, Unit
from hub.records import DeliveryStatus, MessageStatus
from hub.sync.state import content

__all__ = ["OutboundWorker", "PassthroughWorker", "raw_envelope"]

log = logging.getLogger("carehub.outbound")

#: rendering threads, process-wide and bounded: a render maps and runs the format's outside
#: validator (hl7apy strict, pyx12), too slow for the event loop on a big message
_rendering = ThreadPoolExecutor(max_workers=2, thread_name_prefix="carehub-render")


#: event kinds whose message is more than the record's new state: never superseded by a
#: later version of the record
_NOT_JUST_STATE = frozenset({EventKind.PATIENT_MERGED, EventKind.APPOINTMENT_CONFLICT})


class OutboundWorker:
    def __init__(
        self,
        store: Store,
        destination: str,
        deliverer: Deliverer[Any],
        *,
        format: str,
    ):
        self.store = store
        self.destination = destination
        self.deliverer = deliverer
        self.format = format

    async def handle(self, delivery: Delivery) -> None:
        env = delivery.envelope
        if env.source_system == self.destination or self.destination in env.exclude_destinations:
            await self._record(delivery, DeliveryStatus.SKIPPED, "not sent back to its origin")
            return
        done = await self.store.get_delivery(env.id, self.destination)
        if done is not None and done.status == DeliveryStatus.DELIVERED:
            log.info("envelope %s already delivered to %s", env.id, self.destination)
            return
        superseded = await self._superseded(delivery)
        if superseded is not None:
            await self._record(
                delivery, DeliveryStatus.SKIPPED, f"superseded: version {superseded} was sent"
            )
            return
        result = await self._deliver(env)
        fault_point("mid_delivery")
        await self._record_done(delivery, result)

    async def _deliver(self, env: Envelope) -> Delivered:
        """Render (off the event loop: it validates), then send — unless the format has
        nothing to send for this event. A rendering its validator refuses raises a
        permanent ``MappingError`` naming the fields: parked with that reason, not sent."""
        loop = asyncio.get_running_loop()
        rendered = await loop.run_in_executor(_rendering, self.deliverer.render, env)
        if rendered.skipped is not None:
            return Delivered(format=rendered.format, skipped=True, response=rendered.skipped)
        return await self.deliverer.send(rendered)

    async def _record_done(self, delivery: Delivery, result: Delivered) -> None:
        """One transaction: the outbound message, the delivery, what the system now holds."""
        env = delivery.envelope
        async with self.store.unit() as unit:
            out_id = None
            if result.rendered is not None:
                out_id = await unit.record_message(
                    direction="out",
                    system=self.destination,
                    format=result.format,
                    raw=result.rendered,
                    status=MessageStatus.DELIVERED,
                    message_key=result.message_key,
                    correlation_id=env.id,
                )
            status = DeliveryStatus.SKIPPED if result.skipped else DeliveryStatus.DELIVERED
            await self._record(delivery, status, result.response, out_id, unit)
            entity = env.payload.entity
            if not result.skipped and entity.id:
                # what this system now holds: its echo of it is not news (hub.sync)
                await unit.record_sent(
                    self.destination,
                    entity.entity_type.value,
                    entity.id,
                    content(entity.model_dump(mode="json", exclude_none=True)),
                    entity.meta.version,
                )
            await self._audit("sent" if not result.skipped else "skipped", env.id, status, unit)

    async def settled(
        self, delivery: Delivery, settlement: Settlement, error: BaseException
    ) -> None:
        """Record a failed delivery as what the settle step did with it on the broker."""
        env = delivery.envelope
        reason = f"{type(error).__name__}: {error}"
        if settlement is Settlement.RETRIED:
            await self._record(delivery, DeliveryStatus.RETRYING, reason)
        elif settlement is Settlement.PARKED and isinstance(error, PermanentError):
            await self._record(delivery, DeliveryStatus.PARKED, str(error))
            await self._audit("parked", env.id, "rejected")
        elif settlement is Settlement.PARKED:
            # a transient error is parked only when its queue has no retry tier left
            await self._record(delivery, DeliveryStatus.PARKED, f"retries exhausted: {reason}")
            await self._audit("parked", env.id, "retries exhausted")

    async def _superseded(self, delivery: Delivery) -> int | None:
        """The newer version of this record this destination already has, if any: a
        delivery that comes back from a retry tier (or is redelivered) after a later change
        went out must not overwrite it with older data. A first delivery is in order."""
        env = delivery.envelope
        if not (delivery.redelivered or delivery.attempt > 0):
            return None
        if env.payload.kind in _NOT_JUST_STATE:
            return None  # a merge or a conflict says more than the record's state
        entity = env.payload.entity
        version = entity.meta.version
        if not entity.id or version is None:
            return None
        held = await self.store.sent_version(self.destination, entity.entity_type.value, entity.id)
        return held if held is not None and held > version else None

    async def _record(
        self,
        delivery: Delivery,
        status: DeliveryStatus,
        detail: str | None,
        outbound_id: str | None = None,
        unit: Unit | None = None,
    ) -> None:
        target = unit or self.store
        await _record(
            target, self.destination, delivery, delivery.envelope, status, detail, outbound_id
        )

    async def _audit(
        self, action: str, envelope_id: str, outcome: str, unit: Unit | None = None
    ) -> None:
        await _audit(unit or self.store, action, envelope_id, outcome, self.destination)


def raw_envelope(delivery: Delivery) -> RawEnvelope:
    """The raw (pass-through) envelope a delivery carries; ``ParseError`` (permanent: the
    settle step parks it) when the body is none."""
    try:
        return RawEnvelope.from_bytes(delivery.body)
    except ValidationError as exc:
        raise ParseError("message body is not a carehub raw envelope", code="envelope") from exc


class PassthroughWorker:
    """Delivers one destination's raw messages (``hub.passthru``) from its raw queue: never
    to the system that sent it, once per (envelope, destination) — a delivery already made
    is not made again — and recorded like a canonical delivery (the outbound message, the
    delivery, the audit record). Failures are retried and parked by the settle step and
    recorded through :meth:`settled`, as :class:`OutboundWorker` does."""

    def __init__(self, store: Store, destination: str, deliverer: PassesThrough):
        self.store = store
        self.destination = destination
        self.deliverer = deliverer

    async def handle(self, delivery: Delivery) -> None:
        env = raw_envelope(delivery)
        if env.source_system == self.destination or self.destination in env.exclude_destinations:
            await self._record(delivery, env, DeliveryStatus.SKIPPED, "not sent back to its origin")
            return
        done = await self.store.get_delivery(env.id, self.destination)
        if done is not None and done.status == DeliveryStatus.DELIVERED:
            log.info("raw envelope %s already delivered to %s", env.id, self.destination)
            return
        loop = asyncio.get_running_loop()  # the rewrite parses the message: off the loop
        rendered = await loop.run_in_executor(_rendering, self.deliverer.render_raw, env)
        result = await self.deliverer.send(rendered)
        fault_point("mid_delivery")
        async with self.store.unit() as unit:
            out_id = await unit.record_message(
                direction="out",
                system=self.destination,
                format=result.format,
                raw=result.rendered or b"",
                status=MessageStatus.DELIVERED,
                message_key=result.message_key,
                control_id=rendered.idempotency_key,
                correlation_id=env.id,
            )
            await self._record(
                delivery, env, DeliveryStatus.DELIVERED, result.response, out_id, unit
            )
            await _audit(unit, "sent", env.id, DeliveryStatus.DELIVERED, self.destination)

    async def settled(
        self, delivery: Delivery, settlement: Settlement, error: BaseException
    ) -> None:
        """Record a failed delivery as what the settle step did with it on the broker."""
        try:
            env = raw_envelope(delivery)
        except ParseError:
            return  # parked unread: there is no envelope to record it under
        reason = f"{type(error).__name__}: {error}"
        if settlement is Settlement.RETRIED:
            await self._record(delivery, env, DeliveryStatus.RETRYING, reason)
        elif settlement is Settlement.PARKED:
            text = (
                str(error) if isinstance(error, PermanentError) else f"retries exhausted: {reason}"
            )
            await self._record(delivery, env, DeliveryStatus.PARKED, text)
            outcome = "rejected" if isinstance(error, PermanentError) else "retries exhausted"
            await _audit(self.store, "parked", env.id, outcome, self.destination)

    async def _record(
        self,
        delivery: Delivery,
        env: RawEnvelope,
        status: DeliveryStatus,
        detail: str | None,
        outbound_id: str | None = None,
        unit: Unit | None = None,
    ) -> None:
        await _record(
            unit or self.store, self.destination, delivery, env, status, detail, outbound_id
        )


async def _record(
    target: Store | Unit,
    destination: str,
    delivery: Delivery,
    env: Envelope | RawEnvelope,
    status: DeliveryStatus,
    detail: str | None,
    outbound_id: str | None,
) -> None:
    """The delivery record of one attempt, canonical or pass-through."""
    await target.record_delivery(
        envelope_id=env.id,
        destination=destination,
        status=status,
        attempts=delivery.attempt + 1,
        event_kind=env.routing_key,
        message_id=env.raw_ref,
        outbound_message_id=outbound_id,
        detail=detail,
    )


async def _audit(
    target: Store | Unit, action: str, envelope_id: str, outcome: str, destination: str
) -> None:
    await target.audit(
        actor="carehub",
        action=action,
        outcome=outcome,
        subject=f"envelope:{envelope_id}",
        peer=destination,
    )
