"""What only the embedded transport has: the delay_scale knob and its lifecycle rules."""

from __future__ import annotations

import asyncio

import pytest
from queues_testkit import make_envelope

from hub.errors import BrokerUnavailable
from queues import MemoryTransport, build_topology, events_exchange, work_queue


async def test_delay_scale_shrinks_retry_tier_delays():
    t = MemoryTransport(delay_scale=0.05)
    await t.start(build_topology("m", {"a": ["patient.*"]}, retry_delays=(2.0,)))
    clock = asyncio.get_running_loop().time
    await t.publish(events_exchange("m"), "patient.updated", make_envelope("patient.updated"))
    async with t.consume(work_queue("m", "a")) as sub:
        d = await anext(sub)
        started = clock()
        await d.retry("later")
        assert (await t.queue_depths())["m.dest.a.retry.1"] == 1
        again = await asyncio.wait_for(anext(sub), 1.0)  # 2 s × 0.05 = 0.1 s
        assert 0.09 <= clock() - started < 0.5
        assert again.attempt == 1
    await t.close()


async def test_publish_before_start_or_after_close_is_refused():
    t = MemoryTransport()
    with pytest.raises(BrokerUnavailable):
        await t.publish(events_exchange("m"), "patient.updated", make_envelope())
    await t.start(build_topology("m", {}))
    with pytest.raises(RuntimeError):
        await t.start(build_topology("m", {}))
    await t.close()
    with pytest.raises(BrokerUnavailable):
        await t.publish(events_exchange("m"), "patient.updated", make_envelope())


def test_delay_scale_must_be_positive():
    with pytest.raises(ValueError):
        MemoryTransport(delay_scale=0)
