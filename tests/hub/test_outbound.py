"""The outbound worker's record of a failed delivery is what the settle step did on the broker.

The worker is run as the hub runs it: a ``LaneConsumer`` on the embedded transport settles
each delivery and then tells the worker (``settled``) what it did. After every settle the
store's record is compared with where the message is on the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from carehub.app.consumers import LaneConsumer
from hub.envelope import Envelope
from hub.errors import PartnerUnavailable, StoreUnavailable
from hub.outbound import OutboundWorker
from hub.ports import Delivered, Delivery, Rendered, Settlement
from hub.store import SqlStore
from queues import MemoryTransport, build_topology, events_exchange, parking_queue, work_queue
from tests.queues.queues_testkit import make_envelope

NS = "t"
DEST = "billing"


class Unreachable:
    def render(self, envelope: Envelope) -> Rendered:
        return Rendered(format="fhir", body=b"{}", idempotency_key=envelope.id)

    async def send(self, rendered: Rendered) -> Delivered:
        raise PartnerUnavailable("connection refused")

    async def close(self) -> None:
        return None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'carehub.db'}")
    try:
        yield store
    finally:
        await store.close()


async def _run_until_parked(
    store: SqlStore, retry_delays: tuple[float, ...]
) -> tuple[Envelope, list[tuple[Settlement, str, int, bool]]]:
    """Deliver one envelope to an unreachable partner until the broker parks it; after each
    settle: (what the settle step did, the record's status and attempts, parked on broker)."""
    topology = build_topology(NS, {DEST: ["patient.*"]}, retry_delays=retry_delays)
    transport = MemoryTransport(delay_scale=0.01)
    await transport.start(topology)
    worker = OutboundWorker(store, DEST, Unreachable(), format="fhir")
    seen: list[tuple[Settlement, str, int, bool]] = []
    done = asyncio.Event()

    async def observed(delivery: Delivery, settlement: Settlement, error: BaseException) -> None:
        await worker.settled(delivery, settlement, error)
        record = await store.get_delivery(delivery.envelope.id, DEST)
        assert record is not None
        depths = await transport.queue_depths()
        on_broker = depths[parking_queue(work_queue(NS, DEST))] > 0
        seen.append((settlement, record.status, record.attempts, on_broker))
        if on_broker:
            done.set()

    consumer = LaneConsumer(
        transport, work_queue(NS, DEST), worker.handle, lanes=1, settled=observed
    )
    consumer.start()
    try:
        env = make_envelope("patient.updated")
        await transport.publish(events_exchange(NS), env.routing_key, env)
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await consumer.stop()
        await transport.close()
    return env, seen


async def test_a_transient_failure_on_the_last_tier_is_recorded_as_parked(store: SqlStore) -> None:
    env, seen = await _run_until_parked(store, retry_delays=(1, 2))
    assert seen == [
        (Settlement.RETRIED, "retrying", 1, False),
        (Settlement.RETRIED, "retrying", 2, False),
        (Settlement.PARKED, "parked", 3, True),
    ]
    record = await store.get_delivery(env.id, DEST)
    assert record is not None and record.detail is not None
    assert record.detail == "retries exhausted: PartnerUnavailable: connection refused"


@pytest.mark.parametrize("tiers", [(), (1,), (1, 2, 3)])
async def test_the_record_says_parked_exactly_when_the_broker_parked(
    store: SqlStore, tiers: tuple[float, ...]
) -> None:
    # the worker is built the same way for every tier count: only the queue knows when the
    # tiers run out, so a worker deciding on its own cannot match all three
    _, seen = await _run_until_parked(store, retry_delays=tiers)
    assert len(seen) == len(tiers) + 1
    for settlement, status, _, parked_on_broker in seen:
        assert (status == "parked") is parked_on_broker
        assert status == ("parked" if settlement is Settlement.PARKED else "retrying")
    assert [attempts for _, _, attempts, _ in seen] == list(range(1, len(tiers) + 2))


async def test_a_record_that_cannot_be_written_does_not_stop_the_lane() -> None:
    # the broker has settled the delivery already: the lane goes on to the next one
    topology = build_topology(NS, {DEST: ["patient.*"]}, retry_delays=())
    transport = MemoryTransport()
    await transport.start(topology)
    told: list[str] = []

    async def failing(env: Delivery) -> None:
        raise PartnerUnavailable("down")

    async def store_down(delivery: Delivery, settlement: Settlement, error: BaseException) -> None:
        told.append(delivery.envelope.id)
        raise StoreUnavailable("database is down")

    consumer = LaneConsumer(transport, work_queue(NS, DEST), failing, lanes=1, settled=store_down)
    consumer.start()
    try:
        envs = [make_envelope("patient.updated") for _ in range(2)]
        for env in envs:
            await transport.publish(events_exchange(NS), env.routing_key, env)
        for _ in range(200):
            if consumer.handled == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await consumer.stop()
        await transport.close()
    assert told == [env.id for env in envs]
