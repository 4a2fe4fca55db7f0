"""RabbitMQ-only behaviour: reconnects, error sorting, broker-side settings, real nacks."""

from __future__ import annotations

import asyncio
import functools
import socket
import time

import pika
import pytest
from queues_testkit import (
    AMQP_URL,
    close_connection_on_broker,
    connection_heartbeat,
    connection_pids,
    delete_queues,
    free_port,
    make_envelope,
    need_broker,
    need_rabbitmqctl,
    queue_types_and_arguments,
    raw_channel,
)

from hub.errors import BrokerUnavailable, ConfigError
from queues import AmqpTransport, build_topology, events_exchange, make_transport, work_queue

pytestmark = pytest.mark.rabbitmq


async def _eventually(check, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


class _Collector:
    """Consumes a queue in the background, acking, remembering envelope ids."""

    def __init__(self, transport, queue: str) -> None:
        self.sub = transport.consume(queue, prefetch=50)
        self.seen: list[str] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for d in self.sub:
            self.seen.append(d.envelope.id)
            await d.ack()

    async def stop(self) -> None:
        await self.sub.aclose()
        await asyncio.wait_for(self.task, 10)


async def test_broker_side_close_reconnects_redeclares_and_loses_no_confirmed_message(amqp_hub):
    need_rabbitmqctl()
    hub = await amqp_hub(transport_kw={"reconnect_max_wait": 0.5})
    t, q = hub.transport, work_queue(hub.ns, "a")
    # Delete a queue behind the transport's back: only a re-declare brings it back.
    vanished = hub.topology.retry_tiers[q][1]
    await delete_queues(vanished)
    [pid_before] = await asyncio.to_thread(connection_pids, t.connection_name)
    collector = _Collector(t, q)
    confirmed: list[str] = []
    killed = asyncio.Event()

    async def produce() -> None:
        batches_after_kill = 0
        while batches_after_kill < 20 and len(confirmed) < 5000:
            envs = [make_envelope() for _ in range(10)]
            await asyncio.gather(
                *(t.publish(events_exchange(hub.ns), "patient.updated", e) for e in envs)
            )
            confirmed.extend(e.id for e in envs)  # only after every one was confirmed
            batches_after_kill += killed.is_set()
            await asyncio.sleep(0.005)

    producer = asyncio.ensure_future(produce())
    assert await _eventually(lambda: len(confirmed) >= 50)
    await asyncio.to_thread(close_connection_on_broker, t.connection_name)
    killed.set()
    await asyncio.wait_for(producer, 60)
    assert await _eventually(lambda: set(confirmed) <= set(collector.seen))
    await collector.stop()
    [pid_after] = await asyncio.to_thread(connection_pids, t.connection_name)
    assert pid_after != pid_before  # a new connection, not the old one surviving
    assert vanished in await t.queue_depths()  # passive declare: it exists again
    assert t.connected


async def test_socket_loss_mid_stream_publish_waits_and_consume_resumes(amqp_hub):
    hub = await amqp_hub(transport_kw={"reconnect_max_wait": 0.5})
    t, q = hub.transport, work_queue(hub.ns, "a")
    async with t.consume(q) as sub:
        await t.publish(events_exchange(hub.ns), "patient.updated", make_envelope())
        before = await asyncio.wait_for(anext(sub), 5)
        # Cut the TCP stream under pika (reaching into its transport on purpose).
        t._conn._transport._sock.shutdown(socket.SHUT_RDWR)
        env = make_envelope()
        await t.publish(events_exchange(hub.ns), "patient.updated", env, timeout=15)
        got = []
        while env.id not in got:
            d = await asyncio.wait_for(anext(sub), 10)
            got.append(d.envelope.id)
            assert d is not before
            await d.ack()
        await before.ack()  # its channel died: a no-op, the broker redelivered it
        assert before.settled
    assert t.connected


async def test_heartbeat_setting_reaches_the_broker(amqp_hub):
    need_rabbitmqctl()
    hub = await amqp_hub(transport_kw={"heartbeat": 7})
    assert await asyncio.to_thread(connection_heartbeat, hub.transport.connection_name) == 7


async def test_queues_are_quorum_with_the_declared_arguments(amqp_hub):
    need_rabbitmqctl()
    hub = await amqp_hub(delivery_limit=9)
    found = await asyncio.to_thread(queue_types_and_arguments, f"{hub.ns}.")
    assert set(found) == {q.name for q in hub.topology.queues}
    assert {qtype for qtype, _ in found.values()} == {"quorum"}
    _, work_args = found[work_queue(hub.ns, "a")]
    for fragment in (
        '{"x-delivery-limit",9}',
        '{"x-dead-letter-strategy","at-least-once"}',
        '{"x-overflow","reject-publish"}',
        f'{{"x-dead-letter-routing-key","{hub.ns}.dest.a.parked"}}',
    ):
        assert fragment in work_args
    _, tier_args = found[f"{hub.ns}.dest.a.retry.2"]
    assert '{"x-message-ttl",400}' in tier_args
    assert f'{{"x-dead-letter-routing-key","{hub.ns}.dest.a"}}' in tier_args


async def test_conflicting_declaration_is_a_config_error_not_a_retry_loop(amqp_hub):
    hub = await amqp_hub(delivery_limit=20)
    clash = AmqpTransport(AMQP_URL, connect_timeout=5)
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        await clash.start(build_topology(hub.ns, {"a": ["patient.*"]}, delivery_limit=5))
    assert err.value.code == "406"  # PRECONDITION_FAILED: the arguments really are set
    assert time.monotonic() - started < 4
    assert not clash.connected
    # the first transport is not disturbed
    await hub.transport.publish(events_exchange(hub.ns), "patient.updated", make_envelope())
    assert (await hub.transport.queue_depths())[work_queue(hub.ns, "a")] == 1


async def test_refused_credentials_are_permanent_and_fast():
    need_broker()
    url = AMQP_URL.replace("guest:guest@", "guest:not-the-password@")
    t = AmqpTransport(url, connect_timeout=5)
    started = time.monotonic()
    with pytest.raises(ConfigError):
        await t.start(build_topology("never", {}))
    assert time.monotonic() - started < 4  # not retried until the connect timeout


async def test_unreachable_broker_publish_raises_within_its_timeout():
    t = AmqpTransport(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F", lazy=True)
    await t.start(build_topology("never", {"a": ["x"]}))
    try:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            await t.publish(events_exchange("never"), "x", make_envelope(), timeout=1.0)
        assert 0.9 <= time.monotonic() - started < 2.0
        assert not t.connected
    finally:
        await t.close()


async def test_unreachable_broker_start_raises_within_connect_timeout():
    t = AmqpTransport(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F", connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await t.start(build_topology("never", {}))
    assert time.monotonic() - started < 2.5


async def test_a_nacked_publish_is_retried_until_its_timeout(amqp_hub):
    hub = await amqp_hub()
    full = f"{hub.ns}.full"  # a queue that nacks (reject-publish) once it holds one message
    async with raw_channel() as chan:
        # classic: its length limit is exact (a quorum queue's is enforced approximately)
        args = {"x-queue-type": "classic", "x-max-length": 1, "x-overflow": "reject-publish"}
        declare = functools.partial(chan.raw.queue_declare, full, durable=True, arguments=args)
        await chan.call(declare, "declare")
    try:
        props = pika.BasicProperties(delivery_mode=2, message_id="m1")
        await hub.transport.publish_raw("", full, b"{}", props, timeout=2)
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="nacked"):
            await hub.transport.publish_raw("", full, b"{}", props, timeout=1)
        assert time.monotonic() - started >= 0.9
        # the channel is still good for everything else
        await hub.transport.publish(events_exchange(hub.ns), "patient.updated", make_envelope())
        assert (await hub.transport.queue_depths())[work_queue(hub.ns, "a")] == 1
    finally:
        await delete_queues(full)


async def test_make_transport_picks_by_url():
    from queues import MemoryTransport

    assert isinstance(make_transport(None), MemoryTransport)
    assert isinstance(make_transport("memory://"), MemoryTransport)
    amqp = make_transport(AMQP_URL, heartbeat=11)
    assert isinstance(amqp, AmqpTransport)
    assert amqp._params.heartbeat == 11
    with pytest.raises(ConfigError):
        make_transport("http://example.invalid/")


async def test_a_work_queue_deleted_under_its_consumer_comes_back(amqp_hub):
    hub = await amqp_hub(transport_kw={"reconnect_max_wait": 0.5})
    t, q = hub.transport, work_queue(hub.ns, "a")
    async with t.consume(q) as sub:
        await t.publish(events_exchange(hub.ns), "patient.updated", make_envelope())
        await (await asyncio.wait_for(anext(sub), 5)).ack()
        await delete_queues(q)  # the broker cancels our consumer
        env = make_envelope()
        # routed by the topology but unroutable on the broker until the re-declare
        await t.publish(events_exchange(hub.ns), "patient.updated", env, timeout=15)
        d = await asyncio.wait_for(anext(sub), 15)
        assert d.envelope.id == env.id
        await d.ack()
