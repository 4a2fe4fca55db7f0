"""Connection limits and timeouts for the hub's HTTP server, where aiohttp has none.

aiohttp (3.14) has one timer, ``keepalive_timeout`` (3,630 s unless given), which closes a
connection waiting for a request — silently, also one in the middle of a head arriving byte
by byte; it has no timeout of its own for the head, none for a request body, and no cap on
connections. ``ConnectionGuard`` wraps aiohttp's protocol factory: each connection is
counted against a cap over all clients and a cap per peer address, and goes through three
phases, each with its own deadline:

- **head**, from connecting (or from the first byte after an idle keep-alive) until aiohttp
  has the request line and headers (its ``request_factory``): ``header_timeout``;
- **handling**, while the handler runs: the body must be in by ``body_timeout`` (the
  middleware's watchdog; the handler's own work is not timed here);
- **idle**, from the handler's return until the next request's first byte:
  ``keepalive_timeout`` (an answer a slow client is still reading is waited for while it
  makes progress).

Past a deadline the connection is closed: with a ``408`` when the client had started sending
something, silently when it sent nothing. Over a cap a new connection is answered at once —
``429`` (its address has too many open) or ``503`` (the server has) — and closed, before any
of its bytes are read. With mutual TLS and ``allowed_clients``, a certificate not on the list
gets ``403`` and is closed. Log lines carry the peer address and counts only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

__all__ = ["ConnectionGuard", "GuardLimits", "GuardedSite"]

log = logging.getLogger("carehub.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: refused connections answered and waiting for the client's FIN, at most (past it: closed)
_MAX_LINGERING = 128
#: how long a refused connection waits for the client to read the answer and hang up
_LINGER_SECONDS = 1.0


@dataclass(frozen=True)
class GuardLimits:
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keepalive_timeout: float = 15.0
    max_connections: int = 512
    max_connections_per_peer: int = 64


def _raw_response(status: int, reason: str, text: str, *, retry_after: int | None = None) -> bytes:
    body = json.dumps({"error": text}).encode()
    head = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Throttled:
    """At most one log line per ``every`` seconds per kind, with how many were left out."""

    def __init__(self, every: float = 5.0):
        self.every = every
        self._last: dict[str, float] = {}
        self._skipped: Counter[str] = Counter()

    def warning(self, kind: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -self.every) < self.every:
            self._skipped[kind] += 1
            return
        self._last[kind] = now
        skipped = self._skipped.pop(kind, 0)
        suffix = f" ({skipped} more like it not logged)" if skipped else ""
        log.warning(msg + suffix, *args)


class ConnectionGuard:
    """The protocol factory to give ``loop.create_server`` in place of aiohttp's; its
    ``middleware`` must be on the application (it tells the guard when a request is being
    handled). ``allow_certificate`` checks a TLS connection's ``ssl_object``."""

    def __init__(
        self,
        factory: Callable[[], asyncio.Protocol],
        limits: GuardLimits,
        *,
        allow_certificate: Callable[[Any], bool] | None = None,
    ):
        self.factory = factory
        self.limits = limits
        self.allow_certificate = allow_certificate
        self.open = 0
        self.per_peer: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self._connections: set[_Guarded] = set()
        self._by_handler: dict[object, _Guarded] = {}
        self._lingering = 0
        self._throttle = _Throttled()

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self)

    def watch(self, server: web.Server) -> None:
        """Mark the end of each connection's head phase as soon as aiohttp has a request
        (``server.request_factory``), also for those no middleware sees (a parser error, an
        ``Expect`` refused with 417). Call before the server takes connections."""
        make = server.request_factory

        def request_factory(
            message: Any, payload: Any, protocol: Any, writer: Any, task: Any
        ) -> web.BaseRequest:
            conn = self._by_handler.get(protocol)
            if conn is not None:
                conn.request_started()
            return make(message, payload, protocol, writer, task)

        server.request_factory = request_factory

    def close(self) -> None:
        """Close every connection (the server is stopping)."""
        for conn in list(self._connections):
            conn.close()

    # ------------------------------------------------------------------ admission

    def _admit(self, conn: _Guarded) -> bytes | None:
        """None to let the connection in (counted), else the answer that refuses it."""
        limits = self.limits
        if self.allow_certificate is not None:
            ssl_object = conn.transport.get_extra_info("ssl_object") if conn.transport else None
            if not self.allow_certificate(ssl_object):
                self.stats["refused_certificate"] += 1
                self._throttle.warning(
                    "certificate",
                    "http: refused %s: client certificate not in allowed_clients",
                    conn.peer,
                )
                return _raw_response(
                    403, "Forbidden", "this client certificate is not allowed here"
                )
        if self.per_peer[conn.peer] >= limits.max_connections_per_peer:
            self.stats["refused_peer"] += 1
            self._throttle.warning(
                "peer",
                "http: refused a connection from %s: it has %d open (max_connections_per_peer)",
                conn.peer,
                self.per_peer[conn.peer],
            )
            return _raw_response(
                429,
                "Too Many Requests",
                f"too many connections from {conn.peer} (at most "
                f"{limits.max_connections_per_peer} at once); reuse one or close some",
                retry_after=5,
            )
        if self.open >= limits.max_connections:
            self.stats["refused_total"] += 1
            self._throttle.warning(
                "total",
                "http: refused a connection from %s: %d open (max_connections)",
                conn.peer,
                self.open,
            )
            return _raw_response(
                503,
                "Service Unavailable",
                f"the server has {limits.max_connections} connections open; try again shortly",
                retry_after=5,
            )
        self.open += 1
        self.per_peer[conn.peer] += 1
        self._connections.add(conn)
        return None

    def _release(self, conn: _Guarded) -> None:
        self.open -= 1
        self.per_peer[conn.peer] -= 1
        if self.per_peer[conn.peer] <= 0:
            del self.per_peer[conn.peer]

    # ------------------------------------------------------------------ requests

    def middleware(self) -> Any:
        """Marks each request's handling (the end of the head phase) and watches its body:
        not in full within ``body_timeout`` → the reads fail and the answer is 408, the
        connection closed."""
        limits = self.limits

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            conn = self._by_handler.get(request.protocol)
            if conn is None:  # not one of ours (a test client on another server)
                return await handler(request)
            conn.request_started()
            timed_out = False
            watchdog: asyncio.TimerHandle | None = None
            content = request.content
            if request.body_exists and not content.is_eof():

                def cut() -> None:
                    nonlocal timed_out
                    if not content.is_eof():
                        timed_out = True
                        content.set_exception(web.HTTPRequestTimeout())

                watchdog = asyncio.get_running_loop().call_later(limits.body_timeout, cut)
            try:
                try:
                    response: web.StreamResponse | None = await handler(request)
                except Exception:
                    if not timed_out:
                        raise
                    response = None
                if timed_out:
                    self.stats["body_timeouts"] += 1
                    log.info(
                        "http: %s %s from %s: the body did not arrive within %g s; 408",
                        request.method,
                        request.path,
                        conn.peer,
                        limits.body_timeout,
                    )
                    if response is None or not (response.prepared or response.status == 408):
                        response = _timeout_answer(request, limits.body_timeout)
                    response.force_close()
                    # answered here and closed: aiohttp would otherwise linger reading the
                    # rest of a body whose stream has failed (and log that as unhandled)
                    with contextlib.suppress(ConnectionError):
                        await response.prepare(request)
                        await response.write_eof()
                    request.protocol.force_close()
                assert response is not None
                return response
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                conn.request_finished(draining=request.body_exists and not content.is_eof())

        return guard


class GuardedSite(web.BaseSite):
    """A site on a bound socket, like aiohttp's ``SockSite``, with the guard as protocol
    factory and the TLS handshake bounded by ``header_timeout``."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        guard: ConnectionGuard,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
    ):
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self.guard = guard
        self.sock = sock
        self.tls = ssl_context
        self.queue = backlog
        host, port = sock.getsockname()[:2]
        self._url = f"{'https' if ssl_context else 'http'}://{host}:{port}"

    @property
    def name(self) -> str:
        return self._url

    async def start(self) -> None:
        await super().start()  # registers the site with the runner
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.guard,
            sock=self.sock,
            ssl=self.tls,
            backlog=self.queue,
            ssl_handshake_timeout=self.guard.limits.header_timeout if self.tls else None,
        )


def _timeout_answer(request: web.Request, seconds: float) -> web.Response:
    text = f"the request body did not arrive in full within {seconds:g} s"
    if request.path.startswith("/fhir"):
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "timeout", "diagnostics": text}],
        }
        return web.json_response(outcome, status=408, content_type="application/fhir+json")
    return web.json_response({"error": text}, status=408)


_HEAD, _HANDLING, _IDLE = "head", "handling", "idle"


class _Guarded(asyncio.Protocol):
    """One connection: aiohttp's protocol inside, the phase timer and the caps around it."""

    def __init__(self, guard: ConnectionGuard):
        self.guard = guard
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.phase = _HEAD
        self.draining = False
        self.received = 0
        self._timer: asyncio.TimerHandle | None = None
        self._buffered = 0
        self._admitted = False
        self._lingering = False

    # ------------------------------------------------------------------ protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peername = transport.get_extra_info("peername")
        self.peer = str(peername[0]) if isinstance(peername, tuple) else str(peername or "?")
        refusal = self.guard._admit(self)
        if refusal is not None:
            self._refuse(refusal)
            return
        self._admitted = True
        self.inner = self.guard.factory()
        self.guard._by_handler[self.inner] = self
        self.inner.connection_made(transport)
        self._enter(_HEAD, self.guard.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:  # refused: the client's request is read and dropped
            return
        if self.phase == _IDLE and not self.draining:
            self._enter(_HEAD, self.guard.limits.header_timeout)
        if self.phase == _HEAD:
            self.received += len(data)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.inner is None:
            return None  # the transport closes
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._lingering:
            self._lingering = False
            self.guard._lingering -= 1
        self.guard._connections.discard(self)
        if self._admitted:
            self._admitted = False
            self.guard._release(self)
        if self.inner is not None:
            self.guard._by_handler.pop(self.inner, None)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    # ------------------------------------------------------------------ phases

    def request_started(self) -> None:
        self._cancel()
        self.phase = _HANDLING

    def request_finished(self, *, draining: bool) -> None:
        """The handler returned; the answer is being written. ``draining``: the body was
        not read in full (aiohttp reads and drops the rest, then closes)."""
        self.draining = draining
        self._buffered = 0
        self._enter(_IDLE, self.guard.limits.keepalive_timeout)

    def close(self) -> None:
        self._cancel()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _enter(self, phase: str, seconds: float) -> None:
        self._cancel()
        self.phase = phase
        self.received = 0
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        limits = self.guard.limits
        if self.phase == _HEAD:
            self.guard.stats["header_timeouts"] += 1
            log.info(
                "http: %s sent no complete request head within %g s (%d bytes); closed",
                self.peer,
                limits.header_timeout,
                self.received,
            )
            if self.received:
                transport.write(
                    _raw_response(
                        408,
                        "Request Timeout",
                        "the request line and headers did not arrive in full within "
                        f"{limits.header_timeout:g} s",
                    )
                )
            self.close()
        elif self.phase == _IDLE:
            # an answer still being written to a slow reader: wait while it makes progress
            buffered = transport.get_write_buffer_size()
            if buffered and buffered != self._buffered:
                self._buffered = buffered
                self._timer = asyncio.get_running_loop().call_later(
                    limits.keepalive_timeout, self._expired
                )
                return
            self.guard.stats["idle_closed"] += 1
            self.close()

    def _refuse(self, answer: bytes) -> None:
        """Answer and hang up; wait a moment for the client's FIN so the answer is not lost
        to a reset (never for more than a bounded number of refused connections)."""
        transport = self.transport
        assert transport is not None
        self.guard._connections.add(self)
        transport.write(answer)
        if self.guard._lingering >= _MAX_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._lingering = True
        self.guard._lingering += 1
        self._timer = asyncio.get_running_loop().call_later(_LINGER_SECONDS, self.close)
