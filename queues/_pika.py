"""The edge with pika: callbacks turned into awaitables, and pika's errors sorted once.

pika's asyncio adapter runs its callbacks on the event loop, so futures are resolved directly
from them. Every wait has a timeout, and every wait on a channel fails as soon as that
channel closes, so nothing hangs on a dead connection.

Error sorting (pika's own recovery advice): refused credentials, a missing vhost and the
broker's ``403 ACCESS_REFUSED`` / ``406 PRECONDITION_FAILED`` / ``530 NOT_ALLOWED`` are
configuration problems — retrying cannot help (``ConfigError``). Everything else — refused
or lost sockets, timeouts, ``320 CONNECTION_FORCED``, missed heartbeats — is transient
(``BrokerUnavailable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
from collections import deque
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions as px
from pika.adapters.asyncio_connection import AsyncioConnection

from hub.errors import BrokerUnavailable, CarehubError, ConfigError
from hub.ports import Topology
from queues.topology import queue_arguments

__all__ = [
    "Channel",
    "Confirm",
    "ConfirmTracker",
    "ConfirmWindow",
    "declare",
    "message_properties",
    "open_connection",
    "translate",
]

#: reply codes that say "this will not work until someone changes the configuration"
_PERMANENT_CODES = frozenset({403, 406, 530})
_CREDENTIAL_ERRORS = (
    px.AuthenticationError,
    px.ProbableAuthenticationError,
    px.ProbableAccessDeniedError,
)

ReturnKey = tuple[str, str, str | None]


def translate(exc: BaseException, what: str) -> CarehubError:
    """The hub error for a pika (or socket) exception raised while doing ``what``."""
    if isinstance(exc, CarehubError):
        return exc
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return ConfigError(f"{what}: broker refused the credentials or vhost", code="403")
    code = getattr(exc, "reply_code", None)
    if isinstance(exc, px.ConnectionClosedByBroker | px.ChannelClosedByBroker):
        text = f"{what}: broker closed with {code} {getattr(exc, 'reply_text', '')}"
        if code in _PERMANENT_CODES:
            return ConfigError(text, code=str(code))
        return BrokerUnavailable(text, code=str(code))
    return BrokerUnavailable(f"{what}: {type(exc).__name__}")


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _reject(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


async def open_connection(
    params: pika.ConnectionParameters,
    on_close: Callable[[Any, BaseException], None],
    within: float,
) -> Any:
    """Open an ``AsyncioConnection`` on the running loop; ``on_close`` hears of its end."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()
    conn = AsyncioConnection(
        params,
        on_open_callback=lambda c: _resolve(fut, c),
        on_open_error_callback=lambda _c, exc: _reject(fut, translate(exc, "connect")),
        on_close_callback=on_close,
        custom_ioloop=loop,
    )
    try:
        async with asyncio.timeout(within):
            return await fut
    except TimeoutError:
        close_quietly(conn)
        raise BrokerUnavailable(f"connect: no connection within {within}s") from None
    except BaseException:
        close_quietly(conn)
        raise


def close_quietly(conn: Any) -> None:
    """Close a connection in whatever state it is (opening, open, closing, closed)."""
    if conn is not None and not (conn.is_closing or conn.is_closed):
        with contextlib.suppress(px.AMQPError):
            conn.close()


class Channel:
    """A pika channel whose RPCs are awaitable, time-limited and fail when it closes."""

    def __init__(self, raw: Any, timeout: float) -> None:
        self.raw = raw
        self.timeout = timeout
        self.close_reason: BaseException | None = None
        #: called when the channel closes while nobody asked it to (owner decides what next)
        self.on_unexpected_close: Callable[[Channel, BaseException], None] | None = None
        self._waiting: set[asyncio.Future[Any]] = set()
        self._closing = False
        self._on_empty: Callable[[Any], None] = lambda _frame: None
        raw.add_on_close_callback(self._on_close)

    @classmethod
    async def open(cls, conn: Any, rpc_limit: float) -> Channel:
        """Open a channel on ``conn``; its RPCs each wait at most ``rpc_limit`` seconds."""
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        try:
            chan = cls(conn.channel(on_open_callback=lambda ch: _resolve(opened, ch)), rpc_limit)
        except px.AMQPError as exc:
            raise translate(exc, "channel.open") from exc
        await chan._wait(opened, "channel.open")
        return chan

    @property
    def is_open(self) -> bool:
        return bool(self.raw.is_open) and self.close_reason is None

    async def call(self, start: Callable[..., Any], what: str) -> Any:
        """Start an RPC (``start(callback=...)``, a pika method) and wait for its reply frame."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            start(callback=lambda *frame: _resolve(fut, frame[-1] if frame else None))
        except px.AMQPError as exc:
            raise translate(exc, what) from exc
        return await self._wait(fut, what)

    async def _wait(self, fut: asyncio.Future[Any], what: str) -> Any:
        if self.close_reason is not None:
            raise translate(self.close_reason, what)
        self._waiting.add(fut)
        try:
            async with asyncio.timeout(self.timeout):
                return await fut
        except TimeoutError:
            raise BrokerUnavailable(f"{what}: no answer within {self.timeout}s") from None
        finally:
            self._waiting.discard(fut)

    def _on_close(self, _raw: Any, reason: BaseException) -> None:
        self.close_reason = reason
        for fut in self._waiting:
            _reject(fut, translate(reason, "channel"))
        if not self._closing and self.on_unexpected_close is not None:
            self.on_unexpected_close(self, reason)

    async def close(self) -> None:
        """Close the channel (the broker requeues its unacked deliveries)."""
        self._closing = True
        if not self.is_open:
            return
        closed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.raw.add_on_close_callback(lambda *_: _resolve(closed, None))
        try:
            self.raw.close()
            async with asyncio.timeout(self.timeout):
                await closed
        except (px.AMQPError, TimeoutError):
            pass

    # ----------------------------------------------------------------------- AMQP methods

    async def queue_depth(self, queue: str) -> int:
        """Ready messages in ``queue`` (passive ``queue.declare``)."""
        start = functools.partial(self.raw.queue_declare, queue, passive=True)
        frame = await self.call(start, f"queue.declare {queue}")
        return int(frame.method.message_count)

    async def qos(self, prefetch: int) -> None:
        await self.call(functools.partial(self.raw.basic_qos, prefetch_count=prefetch), "qos")

    async def consume(self, queue: str, on_message: Callable[..., None]) -> None:
        start = functools.partial(self.raw.basic_consume, queue, on_message, auto_ack=False)
        await self.call(start, f"basic.consume {queue}")

    async def get(self, queue: str) -> tuple[Any, Any, bytes] | None:
        """One message from ``queue`` (unacked), or None when it is empty."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._on_empty = lambda _frame: _resolve(fut, None)
        try:
            self.raw.basic_get(queue, lambda _ch, m, p, b: _resolve(fut, (m, p, b)))
        except px.AMQPError as exc:
            raise translate(exc, f"basic.get {queue}") from exc
        result: tuple[Any, Any, bytes] | None = await self._wait(fut, f"basic.get {queue}")
        return result

    def listen_for_empty(self) -> None:
        """Route ``Basic.GetEmpty`` to the pending :meth:`get` (one persistent callback)."""
        self.raw.add_callback(
            lambda frame: self._on_empty(frame),  # noqa: PLW0108 - _on_empty is rebound per get
            [pika.spec.Basic.GetEmpty],
            False,
        )


async def declare(chan: Channel, topology: Topology) -> None:
    """Declare every exchange, queue and binding of ``topology`` on ``chan`` (idempotent)."""
    for ex in topology.exchanges:
        start = functools.partial(
            chan.raw.exchange_declare,
            ex.name,
            exchange_type=ex.type,
            durable=ex.durable,
            arguments=dict(ex.arguments),
        )
        await chan.call(start, f"exchange.declare {ex.name}")
    for q in topology.queues:
        start = functools.partial(
            chan.raw.queue_declare, q.name, durable=True, arguments=queue_arguments(q)
        )
        await chan.call(start, f"queue.declare {q.name}")
    for b in topology.bindings:
        start = functools.partial(chan.raw.queue_bind, b.queue, b.exchange, routing_key=b.pattern)
        await chan.call(start, f"queue.bind {b.queue}")


class Confirm(enum.Enum):
    """How the broker answered one publish."""

    ACKED = "acked"
    NACKED = "nacked"
    RETURNED = "returned"  # unroutable (mandatory): no queue took it, then acked
    LOST = "lost"  # the channel or connection went away before an answer


class ConfirmTracker:
    """Delivery tags of unconfirmed publishes on one confirm-mode channel.

    Tags count publishes from 1 on the channel. ``basic.ack``/``basic.nack`` may confirm
    every tag up to theirs at once (``multiple``). A ``basic.return`` carries no tag but
    always comes before the ack of the same publish, so it marks the oldest unconfirmed
    publish with the same exchange, routing key and message id.
    """

    def __init__(self) -> None:
        self._next_tag = 1
        self._pending: dict[int, asyncio.Future[Confirm]] = {}
        self._keys: dict[int, ReturnKey] = {}
        self._by_key: dict[ReturnKey, deque[int]] = {}
        self._returned: set[int] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def sent(self, key: ReturnKey) -> asyncio.Future[Confirm]:
        """Record a publish just written to the channel; the future gets its answer."""
        tag = self._next_tag
        self._next_tag += 1
        fut: asyncio.Future[Confirm] = asyncio.get_running_loop().create_future()
        self._pending[tag] = fut
        self._keys[tag] = key
        self._by_key.setdefault(key, deque()).append(tag)
        return fut

    def on_confirm(self, frame: Any) -> None:
        """pika's ack/nack callback (``Basic.Ack`` / ``Basic.Nack`` method frame)."""
        method = frame.method
        ok = isinstance(method, pika.spec.Basic.Ack)
        tag = int(method.delivery_tag)
        if not method.multiple:
            self._settle(tag, ok)
            return
        while self._pending:
            first = next(iter(self._pending))
            if first > tag:
                break
            self._settle(first, ok)

    def on_return(self, _chan: Any, method: Any, props: Any, _body: bytes) -> None:
        """pika's return callback: a mandatory publish no queue took."""
        tags = self._by_key.get((method.exchange, method.routing_key, props.message_id))
        for tag in tags or ():
            if tag not in self._returned:
                self._returned.add(tag)
                return

    def fail_all(self) -> None:
        """The channel is gone: every unconfirmed publish is LOST (to be published again)."""
        for tag in list(self._pending):
            self._settle(tag, None)

    def _settle(self, tag: int, ok: bool | None) -> None:
        fut = self._pending.pop(tag, None)
        key = self._keys.pop(tag, None)
        if key is not None:
            tags = self._by_key[key]
            tags.remove(tag)
            if not tags:
                del self._by_key[key]
        returned = tag in self._returned
        self._returned.discard(tag)
        if fut is not None and not fut.done():
            fut.set_result(_answer(ok, returned))


def _answer(ok: bool | None, returned: bool) -> Confirm:
    if ok is None:
        return Confirm.LOST
    if not ok:
        return Confirm.NACKED
    return Confirm.RETURNED if returned else Confirm.ACKED


class ConfirmWindow:
    """At most ``size`` publishes awaiting their confirm; later ones queue, first come first.

    Written here rather than ``asyncio.Semaphore`` because the 3.11 semaphore scans all its
    waiters on every release: with thousands of publishes queued that was the largest cost
    in ``bench/broker.py`` (O(n²) overall). This one is O(1) per acquire and release.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, deadline: float) -> None:
        """Take a slot, waiting at most until loop time ``deadline``."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            async with asyncio.timeout_at(deadline):
                await fut
        except BaseException as exc:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we gave up: pass it on
            if isinstance(exc, TimeoutError):
                raise BrokerUnavailable("publish: confirm window full until the timeout") from None
            raise

    def release(self) -> None:
        """Give a slot back, straight to the oldest waiter still waiting."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1


#: every message the hub publishes is JSON (an ``Envelope``) and survives a broker restart
JSON = "application/json"
PERSISTENT = 2


def message_properties(
    message_id: str | None, correlation_id: str | None, headers: dict[str, Any]
) -> pika.BasicProperties:
    """The AMQP properties of a published (or republished) envelope."""
    return pika.BasicProperties(
        content_type=JSON,
        delivery_mode=PERSISTENT,
        message_id=message_id,
        correlation_id=correlation_id,
        headers=headers,
    )
