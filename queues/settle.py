"""The one place a delivery is settled (aio-pika's ``process()`` idea): handlers raise.

::

    async for delivery in transport.consume(queue):
        async with settling(delivery) as env:
            await handle(env)

or ``outcome = await settle(delivery, handle)``. The exception carries the decision:

    handler returns                      → ack
    raises TransientError                → retry(reason): next retry tier, park when none left
                                           (the outcome says which: RETRIED or PARKED)
    raises another (unexpected) error    → treated as transient: retry, bounded by the tiers
    raises PermanentError                → park(reason, detail={"code", "location", "error"})
    body is not an Envelope              → ParseError, permanent → park (block not run)

A delivery the handler settled itself is left alone, so nothing is settled twice. The
handler's exception is consumed here (it *is* the decision); the outcome is returned, and is
what happened on the broker: a park or retry whose copy could not be made leaves the message
with the broker, to be handed out again, and is reported as ``RETRIED``.
Cancellation (``asyncio.CancelledError``) settles nothing on purpose: the message stays
unacked and the broker hands it out again when the consumer goes away.

Logs carry the envelope id, queue, attempt and error class — never the message or the
error text, which can quote patient data.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import ValidationError

from hub.envelope import Envelope, RawEnvelope
from hub.errors import BrokerUnavailable, CarehubError, ParseError, PermanentError
from hub.ports import Delivery, Settlement

__all__ = ["SettleResult", "error_detail", "settle", "settling", "settling_as"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class SettleResult:
    """What :func:`settling` did; read ``outcome`` after the ``async with`` block."""

    outcome: Settlement | None = None
    error: BaseException | None = None


def error_detail(exc: BaseException) -> dict[str, Any]:
    """The park detail of ``exc``: its code and location (carehub errors) and class name."""
    detail: dict[str, Any] = {"error": type(exc).__name__}
    if isinstance(exc, CarehubError):
        detail["code"] = exc.code
        detail["location"] = exc.location
    return detail


async def settle(
    delivery: Delivery, handler: Callable[[Envelope], Awaitable[object]]
) -> Settlement:
    """Run ``handler`` on the delivery's envelope and settle by what it did.

    A body that is no envelope is parked (``ParseError``) without calling ``handler``.
    """
    result = SettleResult()
    try:
        async with settling(delivery, result) as env:
            await handler(env)
    except ParseError:
        if result.outcome is None:
            raise
    assert result.outcome is not None
    return result.outcome


@asynccontextmanager
async def settling(
    delivery: Delivery, result: SettleResult | None = None
) -> AsyncIterator[Envelope]:
    """Yield the envelope; ack, retry or park when the block ends (see the module doc).

    When the body is no envelope the block cannot run: the delivery is parked and the
    ``ParseError`` raised from ``async with`` (``settle()`` turns it into ``PARKED``).
    """
    async with settling_as(delivery, _envelope_of, result) as env:
        yield env


@asynccontextmanager
async def settling_as(
    delivery: Delivery, read: Callable[[Delivery], T], result: SettleResult | None = None
) -> AsyncIterator[T]:
    """:func:`settling` for a body that ``read`` decodes (a raw pass-through envelope):
    a ``ParseError`` from ``read`` parks the delivery and is raised, the block not run."""
    result = result if result is not None else SettleResult()
    try:
        body = read(delivery)
    except ParseError as exc:
        result.error = exc
        result.outcome = await _settle_failure(delivery, exc)
        raise
    try:
        yield body
    except Exception as exc:
        result.error = exc
        result.outcome = await _settle_failure(delivery, exc)
    else:
        result.outcome = await _settle_success(delivery)


def _envelope_of(delivery: Delivery) -> Envelope:
    return delivery.envelope


async def _settle_success(delivery: Delivery) -> Settlement:
    if delivery.settled:
        return Settlement.SETTLED_BY_HANDLER
    return await _guarded(delivery, _acked(delivery))


async def _settle_failure(delivery: Delivery, exc: Exception) -> Settlement:
    if delivery.settled:
        return Settlement.SETTLED_BY_HANDLER
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, PermanentError):
        _log_failure("parking", delivery, exc)
        return await _guarded(delivery, delivery.park(reason, error_detail(exc)))
    _log_failure("retrying", delivery, exc)
    return await _guarded(delivery, delivery.retry(reason))


async def _acked(delivery: Delivery) -> Settlement:
    await delivery.ack()
    return Settlement.ACKED


async def _guarded(delivery: Delivery, step: Awaitable[Settlement]) -> Settlement:
    """Run a settle step; a broker outage here is logged, not raised: the broker still has
    the message (requeued, or redelivered once the channel is gone) and hands it out again."""
    try:
        return await step
    except BrokerUnavailable:
        log.warning("settle step failed, broker keeps the message (queue=%s)", _queue(delivery))
        return Settlement.RETRIED


def _log_failure(action: str, delivery: Delivery, exc: Exception) -> None:
    log.info(
        "%s delivery env=%s queue=%s attempt=%d error=%s",
        action,
        _envelope_id(delivery),
        _queue(delivery),
        delivery.attempt,
        type(exc).__name__,
    )


def _envelope_id(delivery: Delivery) -> str:
    try:
        return delivery.envelope.id
    except PermanentError:
        pass
    try:  # a raw pass-through message (hub.passthru) has an envelope id of its own
        return RawEnvelope.from_bytes(delivery.body).id
    except ValidationError:
        return "-"


def _queue(delivery: Delivery) -> str:
    return str(getattr(delivery, "queue", "-"))
