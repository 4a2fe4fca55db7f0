"""Consuming from RabbitMQ: a subscription per work queue and the deliveries it hands out.

A :class:`AmqpSubscription` opens its own channel on the transport's connection (so its
prefetch is its own, and closing it hands its unacked deliveries back to the broker) and
subscribes again after every reconnect of :class:`queues.amqp.AmqpTransport`, which owns the
connection and tells it when a channel fails. An :class:`AmqpDelivery` settles on the
channel it came on; the settle step (``queues.settle``) decides how.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import pika
import pika.exceptions as px

from hub.errors import BrokerUnavailable
from hub.ports import Topology
from queues._pika import Channel, message_properties
from queues.delivery import BaseDelivery
from queues.topology import DEFAULT_EXCHANGE


class ConsumerHost(Protocol):
    """What a subscription needs of the transport that owns the connection
    (:class:`queues.amqp.AmqpTransport`): the connection and its generation (bumped on every
    reconnect), waiting for it, reporting a failed channel, forgetting a closed subscription,
    and publishing with confirm (retry tiers, parking). A protocol rather than an import, since
    the transport creates the subscriptions."""

    _conn: Any
    _generation: int
    _closing: bool
    _op_timeout: float
    _subs: set[AmqpSubscription]

    @property
    def connected(self) -> bool: ...

    @property
    def topology(self) -> Topology: ...

    async def _wait_connected(self, deadline: float | None) -> None: ...

    def _channel_failed(self, chan: Channel, reason: BaseException) -> None: ...

    async def publish_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the transport's own signature
    ) -> None: ...


__all__ = ["AmqpDelivery", "AmqpSubscription", "ConsumerHost"]


class AmqpSubscription:
    """Async iterator of :class:`AmqpDelivery` from one work queue, across reconnects.

    ``aclose()`` (or leaving ``async with``) closes its channel, which hands unsettled
    deliveries back to the broker; they come again with ``redelivered=True``.
    """

    def __init__(self, transport: ConsumerHost, queue: str, prefetch: int) -> None:
        self._transport = transport
        self.queue = queue
        self.prefetch = prefetch
        self._inbox: asyncio.Queue[AmqpDelivery | BaseException | None] = asyncio.Queue()
        self._chan: Channel | None = None
        self._generation = -1
        self._lock = asyncio.Lock()
        self._closed = False

    def __aiter__(self) -> AmqpSubscription:
        return self

    async def __anext__(self) -> AmqpDelivery:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if not self._current():
                await self._resubscribe()
                continue
            item = await self._inbox.get()
            if item is None:
                raise StopAsyncIteration
            if isinstance(item, BaseException):
                raise item
            if item._chan is self._chan and item._chan.is_open:
                return item
            # from a channel that died: the broker redelivers it on the new one

    def _current(self) -> bool:
        t = self._transport
        return self._chan is not None and self._generation == t._generation and t.connected

    async def _resubscribe(self) -> None:
        try:
            await self._transport._wait_connected(None)
            await self._subscribe()
        except BrokerUnavailable:
            if self._transport._closing:
                self._closed = True
            else:
                await asyncio.sleep(0.1)  # the supervisor reconnects; try again then

    async def _subscribe(self) -> None:
        """Open a channel, set prefetch, ``basic.consume`` (once per connection)."""
        t = self._transport
        async with self._lock:
            if self._closed or (self._chan is not None and self._generation == t._generation):
                return
            if t._conn is None or not t._conn.is_open:
                raise BrokerUnavailable("subscribe: not connected")
            chan = await Channel.open(t._conn, t._op_timeout)
            chan.on_unexpected_close = t._channel_failed
            chan.raw.add_on_cancel_callback(
                lambda _f: t._channel_failed(chan, BrokerUnavailable("cancelled"))
            )
            await chan.qos(self.prefetch)
            await chan.consume(self.queue, lambda _c, m, p, b: self._arrived(chan, m, p, b))
            self._chan, self._generation = chan, t._generation

    def _arrived(self, chan: Channel, method: Any, props: Any, body: bytes) -> None:
        self._inbox.put_nowait(AmqpDelivery(self, chan, method, props, body))

    def _end(self, item: BaseException | None) -> None:
        self._inbox.put_nowait(item)

    async def aclose(self) -> None:
        """Stop consuming; the broker requeues what this consumer left unsettled."""
        if self._closed:
            return
        self._closed = True
        self._transport._subs.discard(self)
        if self._chan is not None:
            await self._chan.close()
        self._end(None)

    async def __aenter__(self) -> AmqpSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AmqpDelivery(BaseDelivery):
    """One message from RabbitMQ; settles on the channel it came on."""

    def __init__(
        self, sub: AmqpSubscription, chan: Channel, method: Any, props: Any, body: bytes
    ) -> None:
        super().__init__(
            topology=sub._transport.topology,
            queue=sub.queue,
            body=body,
            headers=props.headers,
            routing_key=method.routing_key,
            redelivered=bool(method.redelivered),
        )
        self._transport = sub._transport
        self._chan = chan
        self._tag = method.delivery_tag
        self._props = props

    @property
    def message_id(self) -> str | None:
        return self._props.message_id  # type: ignore[no-any-return]

    def _alive(self) -> bool:
        return self._chan.is_open

    async def _ack(self) -> None:
        # if the channel died meanwhile the broker redelivers; downstream dedupes
        with contextlib.suppress(px.AMQPError):
            self._chan.raw.basic_ack(self._tag)

    async def _requeue(self) -> None:
        with contextlib.suppress(px.AMQPError):
            self._chan.raw.basic_nack(self._tag, requeue=True)

    async def _republish(self, queue: str, headers: dict[str, Any]) -> None:
        props = message_properties(self._props.message_id, self._props.correlation_id, headers)
        await self._transport.publish_raw(DEFAULT_EXCHANGE, queue, self.body, props)
