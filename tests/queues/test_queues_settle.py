"""settle()/settling() and BaseDelivery over an in-test delivery double, and ConfirmTracker.

The double records what the transport primitives were asked to do, so the decisions
(ack / which tier / park, and what headers) can be checked without a broker.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace

import pika
import pytest
from queues_testkit import make_envelope

from hub.errors import (
    BrokerUnavailable,
    MappingError,
    ParseError,
    PartnerUnavailable,
    ValidationFailed,
)
from hub.ports import Settlement
from queues import (
    ATTEMPT,
    HISTORY,
    PARK_DETAIL,
    PARK_REASON,
    ROUTING_KEY,
    SOURCE_QUEUE,
    BaseDelivery,
    build_topology,
    settle,
    settling,
)
from queues._pika import Confirm, ConfirmTracker

TOPO = build_topology("n", {"a": ["patient.*"]}, retry_delays=(1, 2))
WORK = "n.dest.a"


class Recorded(BaseDelivery):
    """A delivery whose transport is a list of what happened."""

    def __init__(self, body: bytes, headers=None, *, alive=True, fail_publish=False):
        super().__init__(
            topology=TOPO,
            queue=WORK,
            body=body,
            headers=headers,
            routing_key="patient.updated",
            redelivered=False,
        )
        self.log: list[tuple] = []
        self.alive = alive
        self.fail_publish = fail_publish

    def _alive(self):
        return self.alive

    async def _ack(self):
        self.log.append(("ack",))

    async def _requeue(self):
        self.log.append(("requeue",))

    async def _republish(self, queue, headers):
        if self.fail_publish:
            raise BrokerUnavailable("down")
        self.log.append(("publish", queue, headers))


def delivery(**kw) -> Recorded:
    return Recorded(make_envelope("patient.updated").to_bytes(), **kw)


async def test_retry_goes_to_the_tier_of_the_current_attempt_then_acks():
    d = delivery(headers={ATTEMPT: 1, HISTORY: ["t 1 first"]})
    assert await d.retry("second") is Settlement.RETRIED
    (op, queue, headers), ack = d.log
    assert (op, queue, ack) == ("publish", "n.dest.a.retry.2", ("ack",))
    assert headers[ATTEMPT] == 2
    assert headers[HISTORY][0] == "t 1 first"
    assert headers[HISTORY][1].endswith(" 2 second")
    assert headers[ROUTING_KEY] == "patient.updated"


async def test_retry_with_no_tier_left_parks():
    d = delivery(headers={ATTEMPT: 2})
    assert await d.retry("third") is Settlement.PARKED
    (_, queue, headers), _ = d.log
    assert queue == "n.dest.a.parked"
    assert headers[PARK_REASON] == "retries exhausted: third"
    assert headers[SOURCE_QUEUE] == WORK


async def test_broker_headers_are_not_carried_onto_the_copy():
    d = delivery(headers={"x-death": [{"count": 1}], "x-delivery-count": 3, "x-tenant": "c1"})
    await d.park("bad")
    headers = d.log[0][2]
    assert "x-death" not in headers
    assert "x-delivery-count" not in headers
    assert headers["x-tenant"] == "c1"
    assert d.delivery_count == 3


async def test_a_failed_copy_requeues_the_original_and_says_so():
    d = delivery(fail_publish=True)
    with pytest.raises(BrokerUnavailable):
        await d.retry("x")
    assert d.log == [("requeue",)]
    assert d.settled


async def test_a_dead_consumer_settles_nothing():
    d = delivery(alive=False)
    await d.park("late")
    assert d.log == []
    assert d.settled


async def test_settle_reports_a_park_for_retries_exhausted():
    d = delivery(headers={ATTEMPT: 2})

    async def transient(env):
        raise PartnerUnavailable("503")

    assert await settle(d, transient) is Settlement.PARKED
    assert d.log[0][1] == "n.dest.a.parked"


async def test_a_park_the_broker_could_not_take_is_reported_as_a_retry():
    # the original was requeued: the broker hands it out again, it is not parked
    d = delivery(fail_publish=True)

    async def invalid(env):
        raise ValidationFailed("PID-3 is required")

    assert await settle(d, invalid) is Settlement.RETRIED
    assert d.log == [("requeue",)]


async def test_a_body_that_is_no_envelope_is_parked_as_a_parse_error():
    d = Recorded(b"MSH|^~\\&|not json")
    assert await settle(d, _never_called) is Settlement.PARKED
    headers = d.log[0][2]
    assert d.log[0][1] == "n.dest.a.parked"
    assert headers[PARK_REASON].startswith("ParseError:")
    assert json.loads(headers[PARK_DETAIL]) == {
        "code": "envelope",
        "location": None,
        "error": "ParseError",
    }


async def test_settling_block_cannot_run_without_an_envelope():
    d = Recorded(b"{}")
    with pytest.raises(ParseError):
        async with settling(d):
            raise AssertionError("block must not run")
    assert d.settled
    assert d.log[0][1] == "n.dest.a.parked"


async def _never_called(env):
    raise AssertionError("handler must not run")


async def test_cancellation_settles_nothing():
    d = delivery()
    started = asyncio.Event()

    async def slow(env):
        started.set()
        await asyncio.sleep(10)

    task = asyncio.ensure_future(settle(d, slow))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not d.settled
    assert d.log == []


async def test_a_broker_outage_while_settling_is_logged_not_raised(caplog):
    d = delivery(fail_publish=True)

    async def transient(env):
        raise PartnerUnavailable("503")

    assert await settle(d, transient) is Settlement.RETRIED
    assert d.log == [("requeue",)]
    assert "fell back to requeue" in caplog.text


async def test_logs_carry_ids_not_the_error_text(caplog):
    caplog.set_level(logging.DEBUG)
    d = delivery()
    secret = "patient Jane Q Doe MRN 123456"

    async def mapping_fails(env):
        raise MappingError(secret, location="PID-5")

    async with settling(d):
        await mapping_fails(d.envelope)
    assert d.envelope.id in caplog.text
    assert "MappingError" in caplog.text
    assert "Jane" not in caplog.text and "123456" not in caplog.text
    # the reason does travel with the message, for the operator
    assert secret in d.log[0][2][PARK_REASON]


async def test_settle_acks_on_success_and_parks_permanent_errors():
    ok, bad = delivery(), delivery()

    async def fine(env):
        return None

    async def invalid(env):
        raise ValidationFailed("no", code="101", location="PID-3")

    assert await settle(ok, fine) is Settlement.ACKED
    assert ok.log == [("ack",)]
    assert await settle(bad, invalid) is Settlement.PARKED
    assert bad.log[0][1] == "n.dest.a.parked"


# --------------------------------------------------------------------------- ConfirmTracker


def _frame(method):
    return SimpleNamespace(method=method)


def _ack(tag, multiple=False):
    return _frame(pika.spec.Basic.Ack(delivery_tag=tag, multiple=multiple))


def _nack(tag, multiple=False):
    return _frame(pika.spec.Basic.Nack(delivery_tag=tag, multiple=multiple))


async def test_tracker_counts_tags_and_handles_multiple_acks_and_nacks():
    t = ConfirmTracker()
    futs = [t.sent(("x", "k", f"m{i}")) for i in range(6)]  # tags 1..6
    t.on_confirm(_ack(3, multiple=True))
    assert [f.done() for f in futs] == [True, True, True, False, False, False]
    t.on_confirm(_nack(5))
    t.on_confirm(_ack(4))
    assert futs[4].result() is Confirm.NACKED
    assert futs[3].result() is Confirm.ACKED
    assert len(t) == 1
    t.fail_all()
    assert futs[5].result() is Confirm.LOST
    assert len(t) == 0
    assert {f.result() for f in futs[:3]} == {Confirm.ACKED}


async def test_tracker_marks_the_oldest_matching_publish_as_returned():
    t = ConfirmTracker()
    a1 = t.sent(("ex", "claim.paid", "m"))
    a2 = t.sent(("ex", "claim.paid", "m"))
    other = t.sent(("ex", "patient.x", "m"))
    returned = SimpleNamespace(exchange="ex", routing_key="claim.paid")
    t.on_return(None, returned, SimpleNamespace(message_id="m"), b"")
    t.on_confirm(_ack(3, multiple=True))
    assert (a1.result(), a2.result(), other.result()) == (
        Confirm.RETURNED,
        Confirm.ACKED,
        Confirm.ACKED,
    )
