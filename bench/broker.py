"""Broker baseline: raw pika against carehub's AmqpTransport, same broker, same sizes.

    python -m bench.broker --url amqp://guest:guest@127.0.0.1:5672/%2F --n 20000

(a) raw pika ``AsyncioConnection``: persistent publishes, confirms pipelined (up to
    ``window`` unconfirmed), callbacks only — the ceiling;
(b) raw pika consume with a ``basic.ack`` per message, prefetch 500;
(c) the same through ``AmqpTransport.publish`` (Envelopes, one awaited confirm each,
    all ``n`` publishes concurrent) and ``consume(prefetch=500)`` + ``Delivery.ack``.

(a) and (b) use the same topology, exchange, routing key and body size as (c) — a quorum
work queue with its delivery limit and at-least-once dead-lettering — so the difference is
the client, not the broker. ``plain_quorum_publish_per_s`` is (a) into a quorum queue with
no arguments, for scale. On a 2-core machine the broker and the client share the CPU.

Everything it declares lives under a private ``bench<random>`` name and is deleted after.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
import uuid
from collections import deque
from typing import Any

import pika
from pika.adapters.asyncio_connection import AsyncioConnection

from hub.canonical import Event, EventKind, Patient, Provenance
from hub.envelope import Envelope
from queues import AmqpTransport, build_topology, events_exchange, work_queue

__all__ = ["broker_baseline"]

PREFETCH = 500


async def broker_baseline(url: str, n: int, size: int = 1024, window: int = 1000) -> dict[str, Any]:
    """Messages per second for raw pika and for AmqpTransport (publish and consume)."""
    ns = f"bench{uuid.uuid4().hex[:8]}"
    topology = build_topology(ns, {"bench": ["patient.#"]}, retry_delays=(1,))
    transport = AmqpTransport(url, confirm_window=window, publish_timeout=120)
    await transport.start(topology)  # declares the topology the raw client uses too
    try:
        raw = await _raw_baseline(url, ns, n, size, window)
        carehub = await _transport_baseline(transport, ns, n, size)
    finally:
        await transport.close()
        await _delete(url, topology)
    return {
        "n": n,
        "size": size,
        "confirm_window": window,
        **raw,
        **carehub,
        "publish_ratio": round(carehub["transport_publish_per_s"] / raw["raw_publish_per_s"], 3),
        "consume_ratio": round(carehub["transport_consume_per_s"] / raw["raw_consume_per_s"], 3),
    }


# --------------------------------------------------------------------------- raw pika


async def _raw_baseline(url: str, ns: str, n: int, size: int, window: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    body = _envelope(size).to_bytes()
    conn = await _connect(url)
    try:
        started = loop.time()
        target = (events_exchange(ns), "patient.updated")
        await _RawPublisher(await _rpc_channel(conn), target, body, n, window).run()
        publish_s = loop.time() - started
        started = loop.time()
        await _raw_consume(await _rpc_channel(conn), work_queue(ns, "bench"), n)
        consume_s = loop.time() - started
        plain = await _plain_quorum_rate(conn, ns, body, n, window)
    finally:
        conn.close()
    return {
        "raw_publish_per_s": round(n / publish_s),
        "raw_consume_per_s": round(n / consume_s),
        "plain_quorum_publish_per_s": plain,
    }


async def _plain_quorum_rate(conn: Any, ns: str, body: bytes, n: int, window: int) -> int:
    loop = asyncio.get_running_loop()
    ch = await _rpc_channel(conn)
    queue = f"{ns}.plain"
    await _rpc(ch.queue_declare, queue, durable=True, arguments={"x-queue-type": "quorum"})
    try:
        started = loop.time()
        await _RawPublisher(await _rpc_channel(conn), ("", queue), body, n, window).run()
        return round(n / (loop.time() - started))
    finally:
        await _rpc(ch.queue_delete, queue)


class _RawPublisher:
    """Keeps ``window`` persistent publishes unconfirmed, refilling as confirms arrive."""

    def __init__(self, ch: Any, target: tuple[str, str], body: bytes, n: int, window: int) -> None:
        self.ch, self.target, self.body, self.n, self.window = ch, target, body, n, window
        self.props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        self.sent = self.confirmed = 0
        self.unconfirmed: deque[int] = deque()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def run(self) -> None:
        await _rpc(self.ch.confirm_delivery, self.on_confirm)
        self.fill()
        await self.done

    def fill(self) -> None:
        while self.sent < self.n and len(self.unconfirmed) < self.window:
            self.ch.basic_publish(*self.target, self.body, self.props)
            self.sent += 1
            self.unconfirmed.append(self.sent)

    def on_confirm(self, frame: Any) -> None:
        if not isinstance(frame.method, pika.spec.Basic.Ack):
            self.done.set_exception(RuntimeError("broker nacked a benchmark publish"))
            return
        tag = frame.method.delivery_tag
        if frame.method.multiple:
            while self.unconfirmed and self.unconfirmed[0] <= tag:
                self.unconfirmed.popleft()
                self.confirmed += 1
        else:
            self.unconfirmed.remove(tag)
            self.confirmed += 1
        if self.confirmed == self.n and not self.done.done():
            self.done.set_result(None)
        else:
            self.fill()


async def _raw_consume(ch: Any, queue: str, n: int) -> None:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    count = 0

    def on_message(chan: Any, method: Any, _props: Any, _body: bytes) -> None:
        nonlocal count
        chan.basic_ack(method.delivery_tag)
        count += 1
        if count == n and not done.done():
            done.set_result(None)

    await _rpc(ch.basic_qos, prefetch_count=PREFETCH)
    tag = ch.basic_consume(queue, on_message)
    await done
    await _rpc(ch.basic_cancel, tag)


async def _connect(url: str) -> Any:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    AsyncioConnection(
        pika.URLParameters(url),
        on_open_callback=fut.set_result,
        on_open_error_callback=lambda _c, exc: fut.set_exception(exc),
        custom_ioloop=asyncio.get_running_loop(),
    )
    return await asyncio.wait_for(fut, 10)


async def _rpc_channel(conn: Any) -> Any:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    conn.channel(on_open_callback=fut.set_result)
    return await asyncio.wait_for(fut, 10)


async def _rpc(method: Any, *args: Any, **kwargs: Any) -> Any:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    method(*args, callback=lambda *frame: fut.done() or fut.set_result(frame), **kwargs)
    return await asyncio.wait_for(fut, 30)


# --------------------------------------------------------------------------- carehub


def _envelope(size: int) -> Envelope:
    """An envelope whose JSON body is about ``size`` bytes (padded in ``Event.note``)."""
    event = Event(
        kind=EventKind.PATIENT_UPDATED,
        entity=Patient(),
        provenance=Provenance(source_system="bench", format="canonical"),
    )
    env = Envelope(source_system="bench", format="canonical", payload=event)
    pad = max(0, size - len(env.to_bytes()) - 10)
    env.payload.note = "x" * pad
    return env


async def _transport_baseline(
    transport: AmqpTransport, ns: str, n: int, size: int
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    envs = [_envelope(size) for _ in range(n)]
    exchange = events_exchange(ns)
    started = loop.time()
    await asyncio.gather(*(transport.publish(exchange, e.routing_key, e) for e in envs))
    publish_s = loop.time() - started
    started = loop.time()
    await _consume_all(transport, work_queue(ns, "bench"), n)
    consume_s = loop.time() - started
    return {
        "transport_publish_per_s": round(n / publish_s),
        "transport_consume_per_s": round(n / consume_s),
    }


async def _consume_all(transport: AmqpTransport, queue: str, n: int) -> None:
    count = 0
    async with transport.consume(queue, prefetch=PREFETCH) as deliveries:
        async for delivery in deliveries:
            await delivery.ack()
            count += 1
            if count == n:
                return


async def _delete(url: str, topology: Any) -> None:
    conn = await _connect(url)
    try:
        ch = await _rpc_channel(conn)
        for q in topology.queues:
            await _rpc(functools.partial(ch.queue_delete, q.name))
        for e in topology.exchanges:
            await _rpc(functools.partial(ch.exchange_delete, e.name))
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--window", type=int, default=1000)
    args = parser.parse_args()
    started = time.monotonic()
    result = asyncio.run(broker_baseline(args.url, args.n, args.size, args.window))
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
