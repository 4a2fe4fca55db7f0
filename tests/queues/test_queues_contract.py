"""The transport contract, run against both the embedded transport and RabbitMQ."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from queues_testkit import make_envelope

from hub.errors import BrokerUnavailable, ConfigError, PartnerUnavailable, ValidationFailed
from hub.ports import Settlement
from queues import (
    HISTORY,
    LAST_ERROR,
    PARK_REASON,
    PARKED_AT,
    SOURCE_QUEUE,
    SettleResult,
    events_exchange,
    ingress_exchange,
    settle,
    settling,
    sync_queue,
    work_queue,
)

NO_MORE = 0.3  # how long "nothing else arrives" is watched


async def next_delivery(sub, timeout: float = 5.0):
    return await asyncio.wait_for(anext(sub), timeout)


async def nothing_arrives(sub, within: float = NO_MORE) -> bool:
    try:
        await asyncio.wait_for(anext(sub), within)
    except TimeoutError:
        return True
    return False


async def wait_depth(transport, queue: str, want: int, within: float = 5.0) -> int:
    """Poll until ``queue`` holds ``want`` ready messages (tier hops take their delay)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        depth = (await transport.queue_depths())[queue]
        if depth == want or asyncio.get_running_loop().time() > deadline:
            return depth
        await asyncio.sleep(0.05)


def work(hub, dest: str = "a") -> str:
    return work_queue(hub.ns, dest)


async def publish(hub, kind: str = "patient.registered", **fields):
    env = make_envelope(kind, **fields)
    await hub.transport.publish(events_exchange(hub.ns), kind, env)
    return env


# --------------------------------------------------------------------------- publish / consume


async def test_round_trip_keeps_envelope_key_and_headers(hub):
    env = make_envelope(correlation_id="corr-1")
    await hub.transport.publish(
        events_exchange(hub.ns), "patient.registered", env, {"x-tenant": "clinic-1"}
    )
    async with hub.transport.consume(work(hub)) as sub:
        d = await next_delivery(sub)
        assert d.envelope == env
        assert d.envelope.id == env.id
        assert d.routing_key == "patient.registered"
        assert d.headers["x-tenant"] == "clinic-1"
        assert (d.attempt, d.redelivered, d.settled) == (0, False, False)
        await d.ack()
        assert d.settled


async def test_topic_patterns_route_like_rabbitmq(hub_factory):
    hub = await hub_factory({"p": ["patient.*"], "c": ["claim.#"]})
    keys = ["patient.registered", "patient.merged.x", "claim.paid", "claim", "claim.a.b"]
    env = make_envelope()
    for key in [*keys, "supply.order.placed"]:
        await hub.transport.publish(events_exchange(hub.ns), key, env)
    depths = await hub.transport.queue_depths()
    assert depths[work(hub, "p")] == 1  # patient.* takes one word only
    assert depths[work(hub, "c")] == 3  # claim.# takes zero or more
    assert depths[sync_queue(hub.ns)] == 0  # events do not reach the sync queue
    await hub.transport.publish(ingress_exchange(hub.ns), "anything.at.all", env)
    assert (await hub.transport.queue_depths())[sync_queue(hub.ns)] == 1
    async with hub.transport.consume(work(hub, "c"), prefetch=10) as sub:
        got = sorted([(await next_delivery(sub)).routing_key for _ in range(3)])
    assert got == ["claim", "claim.a.b", "claim.paid"]


async def test_publish_returns_only_once_the_message_is_queued(hub):
    for n in range(1, 4):
        await publish(hub)
        assert (await hub.transport.queue_depths())[work(hub)] == n


async def test_unroutable_key_is_accepted_and_goes_nowhere(hub):
    await publish(hub, "supply.order.placed")
    assert set((await hub.transport.queue_depths()).values()) == {0}


async def test_unknown_exchange_or_queue_is_a_config_error(hub):
    env = make_envelope()
    with pytest.raises(ConfigError):
        await hub.transport.publish("no.such.exchange", "patient.registered", env)
    with pytest.raises(ConfigError):
        await hub.transport.publish("", "no.such.queue", env)
    with pytest.raises(ConfigError):
        hub.transport.consume(hub.topology.parking[work(hub)])


async def test_prefetch_limits_unsettled_deliveries(hub):
    for _ in range(5):
        await publish(hub)
    async with hub.transport.consume(work(hub), prefetch=3) as sub:
        held = [await next_delivery(sub) for _ in range(3)]
        assert await nothing_arrives(sub)  # the 4th waits for a free slot
        await held[0].ack()
        fourth = await next_delivery(sub)
        assert not fourth.settled
        assert await nothing_arrives(sub)


async def test_ack_removes_the_message(hub):
    for _ in range(3):
        await publish(hub)
    async with hub.transport.consume(work(hub)) as sub:
        for _ in range(3):
            await (await next_delivery(sub)).ack()
    assert (await hub.transport.queue_depths())[work(hub)] == 0
    async with hub.transport.consume(work(hub)) as sub:
        assert await nothing_arrives(sub)


async def test_many_concurrent_publishes_are_confirmed_and_consumed_once(hub):
    envs = [make_envelope() for _ in range(2000)]
    await asyncio.gather(
        *(hub.transport.publish(events_exchange(hub.ns), "patient.updated", e) for e in envs)
    )
    assert (await hub.transport.queue_depths())[work(hub)] == 2000
    seen: list[str] = []
    async with hub.transport.consume(work(hub), prefetch=500) as sub:
        while len(seen) < 2000:
            d = await next_delivery(sub)
            seen.append(d.envelope.id)
            await d.ack()
        assert await nothing_arrives(sub)
    assert len(seen) == len(set(seen)) == 2000
    assert set(seen) == {e.id for e in envs}


# --------------------------------------------------------------------------- retry and park


async def test_retry_walks_the_tiers_with_growing_delay_then_parks(hub):
    env = await publish(hub)
    arrivals: list[tuple[int, float]] = []
    clock = asyncio.get_running_loop().time
    async with hub.transport.consume(work(hub)) as sub:
        for n in range(3):
            d = await next_delivery(sub)
            arrivals.append((d.attempt, clock()))
            await d.retry(f"partner down {n}")
        assert await nothing_arrives(sub, 0.6)  # no tier left: parked, not delivered again
    assert [a for a, _ in arrivals] == [0, 1, 2]
    gap1 = arrivals[1][1] - arrivals[0][1]
    gap2 = arrivals[2][1] - arrivals[1][1]
    assert gap1 >= 0.2 - 0.02
    assert gap2 >= 0.4 - 0.02
    assert gap2 > gap1
    depths = await hub.transport.queue_depths()
    assert depths[hub.topology.parking[work(hub)]] == 1
    [parked] = await hub.transport.peek_parked(work(hub))
    assert parked.envelope.id == env.id
    assert parked.routing_key == "patient.registered"
    assert parked.reason == "retries exhausted: partner down 2"
    assert parked.headers[SOURCE_QUEUE] == work(hub)
    assert parked.headers[LAST_ERROR] == "partner down 1"
    history = parked.history
    assert [h.split(" ", 2)[1:] for h in history] == [
        ["1", "partner down 0"],
        ["2", "partner down 1"],
        ["2", "parked: retries exhausted: partner down 2"],
    ]
    assert all(datetime.fromisoformat(h.split(" ")[0]) for h in history)


async def test_park_keeps_the_reason_and_detail(hub):
    env = await publish(hub)
    async with hub.transport.consume(work(hub)) as sub:
        d = await next_delivery(sub)
        await d.park("PID-3 missing", {"code": "101", "location": "PID-3"})
        assert d.settled
        assert await nothing_arrives(sub)
    [parked] = await hub.transport.peek_parked(work(hub))
    assert parked.envelope.id == env.id
    assert parked.reason == "PID-3 missing"
    assert parked.detail == {"code": "101", "location": "PID-3"}
    assert parked.headers[SOURCE_QUEUE] == work(hub)
    assert datetime.fromisoformat(parked.headers[PARKED_AT]).tzinfo is not None
    # peeking leaves it parked
    assert len(await hub.transport.peek_parked(work(hub))) == 1


async def test_replay_brings_parked_back_with_attempt_reset(hub):
    envs = [await publish(hub) for _ in range(3)]
    async with hub.transport.consume(work(hub)) as sub:
        for _ in range(3):
            d = await next_delivery(sub)
            await d.retry("first try failed")
        for _ in range(3):
            await (await next_delivery(sub)).park("bad mapping")
    parked_q = hub.topology.parking[work(hub)]
    assert await wait_depth(hub.transport, parked_q, 3) == 3
    assert await hub.transport.replay_parked(work(hub), limit=1) == 1
    assert (await hub.transport.queue_depths())[parked_q] == 2
    assert await hub.transport.replay_parked(work(hub)) == 2
    assert (await hub.transport.queue_depths())[parked_q] == 0
    async with hub.transport.consume(work(hub)) as sub:
        back = [await next_delivery(sub) for _ in range(3)]
        for d in back:
            await d.ack()
    assert {d.envelope.id for d in back} == {e.id for e in envs}
    for d in back:
        assert d.attempt == 0
        assert d.routing_key == "patient.registered"
        assert PARK_REASON not in d.headers
        assert [h.split(" ", 2)[2] for h in d.headers[HISTORY]] == [
            "first try failed",
            "parked: bad mapping",
        ]
    assert await hub.transport.replay_parked(work(hub)) == 0


async def test_unsettled_deliveries_come_back_redelivered_when_the_consumer_goes_away(hub):
    envs = [await publish(hub) for _ in range(2)]
    sub = hub.transport.consume(work(hub))
    first = [await next_delivery(sub) for _ in range(2)]
    assert not any(d.redelivered for d in first)
    await sub.aclose()
    async with hub.transport.consume(work(hub)) as sub2:
        again = [await next_delivery(sub2) for _ in range(2)]
        assert [d.envelope.id for d in again] == [e.id for e in envs]
        assert all(d.redelivered for d in again)
        assert [d.delivery_count for d in again] == [1, 1]
        # settling the stale copies does nothing: their consumer is gone
        await first[0].ack()
        await first[1].park("too late")
        assert first[0].settled
        for d in again:
            await d.ack()
        assert await nothing_arrives(sub2)
    depths = await hub.transport.queue_depths()
    assert depths[work(hub)] == 0
    assert depths[hub.topology.parking[work(hub)]] == 0


async def test_delivery_limit_parks_what_consumers_keep_abandoning(hub_factory):
    hub = await hub_factory(delivery_limit=1)
    await publish(hub)
    for _ in range(2):  # limit 1: two abandoned deliveries are one too many
        sub = hub.transport.consume(work(hub))
        await next_delivery(sub)
        await sub.aclose()
    parked_q = hub.topology.parking[work(hub)]
    assert await wait_depth(hub.transport, parked_q, 1) == 1
    [parked] = await hub.transport.peek_parked(work(hub))
    assert parked.reason == "delivery_limit"
    assert parked.routing_key == "patient.registered"
    async with hub.transport.consume(work(hub)) as sub:
        assert await nothing_arrives(sub)


async def test_settling_twice_raises(hub):
    await publish(hub)
    async with hub.transport.consume(work(hub)) as sub:
        d = await next_delivery(sub)
        await d.ack()
        for again in (d.ack(), d.retry("x"), d.park("x")):
            with pytest.raises(RuntimeError):
                await again


# --------------------------------------------------------------------------- settle()


async def _handler(env):
    behaviour = env.correlation_id
    if behaviour == "transient":
        raise PartnerUnavailable("partner said 503")
    if behaviour == "permanent":
        raise ValidationFailed("PID-3 is required", code="101", location="PID-3")
    if behaviour == "boom":
        raise ValueError("a bug")


async def test_settle_maps_the_outcome_of_the_handler(hub):
    for behaviour in ("ok", "transient", "permanent", "boom"):
        await publish(hub, correlation_id=behaviour)
    outcomes = {}
    async with hub.transport.consume(work(hub)) as sub:
        for _ in range(4):
            d = await next_delivery(sub)
            outcomes[d.envelope.correlation_id] = await settle(d, _handler)
            assert d.settled
        assert outcomes == {
            "ok": Settlement.ACKED,
            "transient": Settlement.RETRIED,
            "permanent": Settlement.PARKED,
            "boom": Settlement.RETRIED,  # unexpected errors count as transient
        }
        retried = {}
        for _ in range(2):
            d = await next_delivery(sub)
            retried[d.envelope.correlation_id] = d
            await d.ack()
        assert await nothing_arrives(sub)
    assert retried["transient"].attempt == 1
    assert retried["transient"].headers[LAST_ERROR] == "PartnerUnavailable: partner said 503"
    assert retried["boom"].headers[LAST_ERROR] == "ValueError: a bug"
    [parked] = await hub.transport.peek_parked(work(hub))
    assert parked.envelope.correlation_id == "permanent"
    assert parked.reason == "ValidationFailed: PID-3: PID-3 is required"
    assert parked.detail == {"code": "101", "location": "PID-3", "error": "ValidationFailed"}


async def test_settle_does_not_settle_what_the_handler_settled(hub):
    for behaviour in ("acks-then-returns", "acks-then-raises"):
        await publish(hub, correlation_id=behaviour)
    async with hub.transport.consume(work(hub)) as sub:
        for _ in range(2):
            d = await next_delivery(sub)

            async def handler(env, d=d):
                await d.ack()
                if env.correlation_id == "acks-then-raises":
                    raise ValidationFailed("after ack")

            assert await settle(d, handler) is Settlement.SETTLED_BY_HANDLER
        assert await nothing_arrives(sub)
    assert set((await hub.transport.queue_depths()).values()) == {0}


async def test_settling_context_manager_reports_its_outcome(hub):
    await publish(hub)
    async with hub.transport.consume(work(hub)) as sub:
        d = await next_delivery(sub)
        result = SettleResult()
        async with settling(d, result) as env:
            assert env.id == d.envelope.id
            raise PartnerUnavailable("later")
        assert result.outcome is Settlement.RETRIED
        assert isinstance(result.error, PartnerUnavailable)
        again = await next_delivery(sub)
        async with settling(again) as env:
            pass
        assert again.settled
        assert await nothing_arrives(sub)


# --------------------------------------------------------------------------- lifecycle


async def test_close_ends_consumers_and_refuses_publishes(hub):
    sub = hub.transport.consume(work(hub))
    waiting = asyncio.ensure_future(anext(sub))
    await asyncio.sleep(0.1)
    await hub.transport.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 5)
    assert not hub.transport.connected
    with pytest.raises(BrokerUnavailable):
        await publish(hub)
