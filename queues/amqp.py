"""RabbitMQ through pika's ``AsyncioConnection``, on the running asyncio loop.

One connection, re-opened with a bounded, jittered tenacity back-off after any loss; after
every (re)connect the topology is declared again and every live consumer re-subscribed.
On it:

* a **publish channel** in confirm mode. Publishes are pipelined — up to
  ``confirm_window`` in flight — and each ``await publish(...)`` returns only when the
  broker acked *that* message (delivery tags tracked, ``multiple`` acks and nacks
  handled). A nack, a return of a message the topology should have routed, or a
  connection loss before the ack means "publish it again" — after reconnecting if need be —
  until the caller's timeout, then ``BrokerUnavailable``. Never silently dropped.
* an **operations channel** for declarations, queue depths and replay;
* one **channel per consumer**, so its prefetch is its own and closing it hands its
  unacked deliveries back to the broker (redelivered) — the consuming side,
  ``AmqpSubscription`` and ``AmqpDelivery``, is ``queues.amqp_consume``.

Any channel that closes while the connection stays up (a broker channel error, a consumer
cancelled because its queue vanished) brings the connection down on purpose: the ordinary
reconnect path then restores the topology and the consumers. Refused credentials or
access (``ConfigError``) stop the reconnecting instead of spinning.

A message published to the events exchange that no destination subscribes to comes back
``basic.return``-ed and is accepted as delivered to nobody — the topology says nothing
should take it — rather than retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import pika
import pika.exceptions as px
from tenacity import AsyncRetrying, retry_if_exception_type, stop_never, wait_exponential_jitter

from hub.envelope import Envelope, RawEnvelope
from hub.errors import (
    BrokerUnavailable,
    CarehubError,
    ConfigError,
    PermanentError,
    TransientError,
)
from hub.faults import fault_point
from hub.ports import Topology
from queues._pika import (
    Channel,
    Confirm,
    ConfirmTracker,
    ConfirmWindow,
    close_quietly,
    declare,
    message_properties,
    open_connection,
)
from queues.amqp_consume import AmqpSubscription
from queues.delivery import ParkedMessage, original_routing_key, replay_headers
from queues.topology import DEFAULT_EXCHANGE, check_destination, route

__all__ = ["AmqpTransport"]

log = logging.getLogger(__name__)


class AmqpTransport:
    """The :class:`hub.ports.Transport` on RabbitMQ.

    ``url`` is an AMQP URL (``amqp://user:pass@host:5672/%2F``). ``connection_name`` is
    shown by ``rabbitmqctl list_connections name`` (default: ``carehub-<random>``).
    With ``lazy=True`` :meth:`start` returns at once and the connection is made in the
    background; otherwise it waits up to ``connect_timeout`` for the first connection.
    """

    def __init__(
        self,
        url: str,
        *,
        confirm_window: int = 1000,
        heartbeat: int = 30,
        connect_timeout: float = 10,
        publish_timeout: float = 30,
        op_timeout: float = 10,
        close_timeout: float = 5,
        reconnect_max_wait: float = 5,
        connection_name: str | None = None,
        lazy: bool = False,
    ) -> None:
        if confirm_window < 1:
            raise ValueError("confirm_window must be at least 1")
        self.connection_name = connection_name or f"carehub-{uuid.uuid4().hex[:12]}"
        self._params = _parameters(url, heartbeat, connect_timeout, self.connection_name)
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._op_timeout = op_timeout
        self._close_timeout = close_timeout
        self._reconnect_max_wait = reconnect_max_wait
        self._lazy = lazy
        self._window = ConfirmWindow(confirm_window)
        self._topology: Topology | None = None
        self._conn: Any = None
        self._pub: Channel | None = None
        self._ops: Channel | None = None
        self._tracker = ConfirmTracker()
        self._generation = 0
        self._connected = False
        self._closing = False
        self._fatal: CarehubError | None = None
        self._changed = asyncio.Event()
        self._lost = asyncio.Event()
        self._ops_lock = asyncio.Lock()
        self._subs: set[AmqpSubscription] = set()
        self._supervisor: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------------- lifecycle

    async def start(self, topology: Topology) -> None:
        """Connect and declare ``topology``; raises ``ConfigError`` or ``BrokerUnavailable``."""
        if self._supervisor is not None:
            raise RuntimeError("transport already started")
        self._topology = topology
        self._supervisor = asyncio.create_task(self._supervise(), name="carehub-amqp")
        if self._lazy:
            return
        try:
            await self._wait_connected(self._deadline(self._connect_timeout))
        except CarehubError:
            await self.close()
            raise

    async def close(self) -> None:
        """Wait briefly for in-flight confirms, stop consumers, close the connection."""
        if self._closing:
            return
        self._closing = True
        await self._drain_confirms()
        for sub in list(self._subs):
            sub._end(None)
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        await self._close_connection()
        self._notify()

    async def __aenter__(self) -> AmqpTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._connected and not self._closing and self._fatal is None

    @property
    def topology(self) -> Topology:
        if self._topology is None:
            raise RuntimeError("transport not started")
        return self._topology

    async def _drain_confirms(self) -> None:
        deadline = self._deadline(self._close_timeout)
        # polling is enough here: close() runs once, and only waits while confirms are due
        while len(self._tracker) and self._connected and _now() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def _close_connection(self) -> None:
        conn = self._conn
        if conn is None or not conn.is_open:
            return
        self._lost.clear()
        close_quietly(conn)
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._lost.wait()
        except TimeoutError:
            log.warning("broker connection did not close within %ss", self._close_timeout)

    # ----------------------------------------------------------------------- connection

    async def _supervise(self) -> None:
        """Keep a connection up until closed; stop on a permanent error."""
        while not self._closing:
            try:
                await self._connect_with_backoff()
            except PermanentError as exc:
                self._fail(exc)
                return
            await self._lost.wait()

    async def _connect_with_backoff(self) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            wait=wait_exponential_jitter(multiplier=0.1, max=self._reconnect_max_wait, jitter=0.5),
            stop=stop_never,
            reraise=True,
            before_sleep=lambda state: log.info(
                "broker connect attempt %d failed; backing off", state.attempt_number
            ),
        )
        async for attempt in retrying:
            with attempt:
                await self._connect_once()

    async def _connect_once(self) -> None:
        conn = await open_connection(
            self._params, self._on_connection_closed, self._connect_timeout
        )
        try:
            pub, ops = await self._open_channels(conn)
            await declare(ops, self.topology)
            self._commit(conn, pub, ops)
            for sub in list(self._subs):
                await sub._subscribe()
            if not conn.is_open:
                raise BrokerUnavailable("connection closed while subscribing")
        except BaseException:
            close_quietly(conn)
            raise
        self._connected = True
        self._notify()
        log.info("broker connected (generation %d)", self._generation)

    async def _open_channels(self, conn: Any) -> tuple[Channel, Channel]:
        tracker = ConfirmTracker()
        pub = await Channel.open(conn, self._op_timeout)
        await pub.call(functools.partial(pub.raw.confirm_delivery, tracker.on_confirm), "confirm")
        pub.raw.add_on_return_callback(tracker.on_return)
        ops = await Channel.open(conn, self._op_timeout)
        ops.listen_for_empty()
        for chan in (pub, ops):
            chan.on_unexpected_close = self._channel_failed
        self._tracker = tracker
        return pub, ops

    def _commit(self, conn: Any, pub: Channel, ops: Channel) -> None:
        self._conn, self._pub, self._ops = conn, pub, ops
        self._generation += 1
        self._lost.clear()

    def _on_connection_closed(self, conn: Any, reason: BaseException) -> None:
        """pika's close callback: fail what waits on this connection, let the supervisor act."""
        if conn is not self._conn:
            return
        self._connected = False
        self._pub = self._ops = None
        self._tracker.fail_all()
        self._lost.set()
        self._notify()
        if not self._closing:
            log.warning("broker connection lost (%s); reconnecting", type(reason).__name__)

    def _channel_failed(self, chan: Channel, reason: BaseException) -> None:
        """A channel closed under a live connection: reconnect to restore everything."""
        if self._conn is None or not self._conn.is_open or self._closing:
            return
        log.warning("broker closed a channel (%s); reconnecting", type(reason).__name__)
        self._connected = False
        if chan is self._pub:
            self._tracker.fail_all()
        close_quietly(self._conn)

    def _fail(self, exc: CarehubError) -> None:
        log.error("broker connection given up: %s", type(exc).__name__)
        self._fatal = exc
        for sub in list(self._subs):
            sub._end(exc)
        self._notify()

    def _notify(self) -> None:
        """Wake everyone waiting for the connection state to change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_connected(self, deadline: float | None) -> None:
        while not self.connected:
            if self._fatal is not None:
                raise self._fatal
            if self._closing or self._supervisor is None:
                raise BrokerUnavailable("transport is not running")
            changed = self._changed
            remaining = None if deadline is None else deadline - _now()
            if remaining is not None and remaining <= 0:
                raise BrokerUnavailable("no broker connection within the timeout")
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                continue

    def _deadline(self, timeout: float) -> float:
        return _now() + timeout

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
        """Publish persistently and return once the broker confirmed it.

        ``message_id`` is the envelope id. Raises ``BrokerUnavailable`` when not confirmed
        within ``timeout`` (default ``publish_timeout``), ``ConfigError`` for an exchange
        not in the topology.
        """
        check_destination(self.topology, exchange, routing_key)
        props = message_properties(envelope.id, envelope.correlation_id, dict(headers or {}))
        await self.publish_raw(exchange, routing_key, envelope.to_bytes(), props, timeout=timeout)

    async def publish_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - same meaning as in publish()
    ) -> None:
        """Publish ``body`` as is (settling, replay and benchmarks); returns once confirmed."""
        deadline = self._deadline(self._publish_timeout if timeout is None else timeout)
        await self._window.acquire(deadline)
        try:
            await self._publish_until_confirmed(exchange, routing_key, body, properties, deadline)
        finally:
            self._window.release()

    async def _publish_until_confirmed(
        self, exchange: str, key: str, body: bytes, props: Any, deadline: float
    ) -> None:
        pause = 0.05
        answer: Confirm | None = None
        while True:
            if answer is not None and _now() >= deadline:
                raise BrokerUnavailable(
                    f"publish: not confirmed before the timeout ({answer.value})"
                )
            await self._wait_connected(deadline)
            answer = await self._send_once(exchange, key, body, props, deadline)
            if answer is Confirm.ACKED:
                return
            if answer is Confirm.RETURNED and not route(self.topology, exchange, key):
                return  # nobody subscribes to this key: delivered to no one, as intended
            if answer is Confirm.RETURNED:
                self._topology_drifted(exchange, key)
            await asyncio.sleep(min(pause, max(0.0, deadline - _now())))
            pause = min(pause * 2, 1.0)

    async def _send_once(
        self, exchange: str, key: str, body: bytes, props: Any, deadline: float
    ) -> Confirm:
        pub = self._pub
        if pub is None or not pub.is_open:
            return Confirm.LOST
        try:
            pub.raw.basic_publish(exchange, key, body, props, mandatory=True)
        except px.AMQPError:
            return Confirm.LOST
        answer = self._tracker.sent((exchange, key, props.message_id))
        fault_point("after_publish")
        try:
            async with asyncio.timeout(max(0.0, deadline - _now())):
                return await answer  # if cancelled, the tracker skips the done future
        except TimeoutError:
            raise BrokerUnavailable("publish: no confirm before the timeout") from None

    def _topology_drifted(self, exchange: str, key: str) -> None:
        # A queue the topology binds was deleted under us: reconnecting re-declares it.
        log.warning("publish to %r returned although the topology routes it", exchange)
        if self._pub is not None:
            self._channel_failed(self._pub, BrokerUnavailable("unroutable"))

    # ----------------------------------------------------------------------- consume

    def consume(self, queue: str, *, prefetch: int = 100) -> AmqpSubscription:
        """Deliveries from work queue ``queue`` (``basic.qos`` prefetch), across reconnects."""
        if queue not in self.topology.parking:
            raise ConfigError(f"{queue} is not a work queue of the topology", location=queue)
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        sub = AmqpSubscription(self, queue, prefetch)
        self._subs.add(sub)
        return sub

    # ----------------------------------------------------------------------- operations

    async def replay_parked(self, queue: str, limit: int | None = None) -> int:
        """Move parked messages of work queue ``queue`` back to it (confirmed, then acked).

        Attempt is reset, history kept. At most the parked count seen at the start (or
        ``limit``) is moved, so messages parked again meanwhile are not looped over.
        """
        parked = self.topology.parking[queue]
        async with self._ops_lock:
            ops = await self._ops_channel()
            count = await ops.queue_depth(parked)
            count = count if limit is None else min(count, limit)
            moved = 0
            while moved < count and await self._replay_one(ops, parked, queue):
                moved += 1
        if moved:
            log.info("replayed %d parked messages to %s", moved, queue)
        return moved

    async def _replay_one(self, ops: Channel, parked: str, queue: str) -> bool:
        got = await ops.get(parked)
        if got is None:
            return False
        method, props, body = got
        headers = props.headers or {}
        key = original_routing_key(headers, method.routing_key)
        replayed = replay_headers(headers, key)
        await self.publish_raw(
            DEFAULT_EXCHANGE,
            queue,
            body,
            message_properties(props.message_id, props.correlation_id, replayed),
        )
        ops.raw.basic_ack(method.delivery_tag)
        return True

    async def peek_parked(self, queue: str, limit: int = 100) -> list[ParkedMessage]:
        """The first ``limit`` parked messages of work queue ``queue``, left in place.

        Read with ``basic.get`` and handed back with one ``basic.nack(requeue)``; a quorum
        queue puts returned messages back at its head, in order.
        """
        parked = self.topology.parking[queue]
        async with self._ops_lock:
            ops = await self._ops_channel()
            seen: list[ParkedMessage] = []
            last_tag = 0
            try:
                while len(seen) < limit and (got := await ops.get(parked)) is not None:
                    method, props, body = got
                    headers = dict(props.headers or {})
                    key = original_routing_key(headers, method.routing_key)
                    seen.append(ParkedMessage(body, headers, key))
                    last_tag = method.delivery_tag
            finally:
                if last_tag:
                    with contextlib.suppress(px.AMQPError):
                        ops.raw.basic_nack(last_tag, multiple=True, requeue=True)
            return seen

    async def queue_depths(self) -> dict[str, int]:
        """Ready messages per queue of the topology (passive declares)."""
        async with self._ops_lock:
            ops = await self._ops_channel()
            return {q.name: await ops.queue_depth(q.name) for q in self.topology.queues}

    async def _ops_channel(self) -> Channel:
        await self._wait_connected(self._deadline(self._op_timeout))
        if self._ops is None:
            raise BrokerUnavailable("no operations channel")
        return self._ops


def _parameters(url: str, heartbeat: int, connect_timeout: float, name: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.heartbeat = heartbeat
    params.socket_timeout = connect_timeout
    params.stack_timeout = connect_timeout
    params.blocked_connection_timeout = 60
    # reconnecting is ours (tenacity, with back-off): one attempt per pika connect
    params.connection_attempts = 1
    params.client_properties = {"connection_name": name, "product": "carehub"}
    return params


def _now() -> float:
    return asyncio.get_running_loop().time()
