"""MLLP server on asyncio: frames in, the handler's answer out, in order per connection.

The server never parses HL7: each frame goes to ``handler(frame, peer)``, which returns the
bytes to answer with (the pipeline wired in ``carehub.app`` stores, checks, maps and builds
the ACK). A frame over the size cap is answered with what ``refuse(head, error, peer)``
builds, then the connection is closed; so is a frame not ended within ``frame_timeout`` (or
before EOF), with the bytes received so far. Other framing errors close the connection with
a log line that carries ids and counts only, never message content.

The server accepts sockets itself (not ``asyncio.start_server``) so that a connection is
counted against the port's and its peer's caps from accept, before any TLS handshake, and a
refused one is closed before it costs a handshake or a task.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import ipaddress
import itertools
import logging
import socket
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from hub.errors import CarehubError, ConfigError

from .limits import DEFAULT_LIMITS, Limits
from .mllp import FrameTooLarge, FramingError, IncompleteFrame, MllpReader, MllpWriter

__all__ = [
    "Handler",
    "MllpServer",
    "PeerAllowList",
    "PeerInfo",
    "Refuser",
    "server_ssl_context",
]

log = logging.getLogger(__name__)
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who is on the other end of a connection."""

    host: str
    port: int
    connection_id: int
    tls: bool = False
    #: subject common name of the client certificate (mutual TLS)
    subject_cn: str | None = None
    #: SHA-256 of the client certificate (DER), lower-case hex
    fingerprint: str | None = None


#: a frame in; the answer out — one frame, or several in order (HL7 enhanced mode sends the
#: accept ack and then the application ack)
Handler = Callable[[bytes, PeerInfo], Awaitable[bytes | Sequence[bytes]]]
Refuser = Callable[[bytes, CarehubError, PeerInfo], Awaitable[bytes | None]]


@dataclass(frozen=True, slots=True)
class PeerAllowList:
    """Who may connect: source networks, and (mutual TLS) certificate CNs or fingerprints.
    An empty part allows anyone on that part."""

    networks: tuple[_IPNetwork, ...] = ()
    subjects: frozenset[str] = field(default_factory=frozenset)
    fingerprints: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls,
        *,
        ips: Iterable[str] = (),
        subjects: Iterable[str] = (),
        fingerprints: Iterable[str] = (),
    ) -> PeerAllowList:
        """From text: ``ips`` are addresses or networks (``10.0.0.0/8``)."""
        return cls(
            tuple(ipaddress.ip_network(ip, strict=False) for ip in ips),
            frozenset(subjects),
            frozenset(fp.replace(":", "").lower() for fp in fingerprints),
        )

    def allows_address(self, host: str) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    def allows_certificate(self, subject_cn: str | None, fingerprint: str | None) -> bool:
        if not self.subjects and not self.fingerprints:
            return True
        return (subject_cn is not None and subject_cn in self.subjects) or (
            fingerprint is not None and fingerprint in self.fingerprints
        )

    def allows(self, peer: PeerInfo) -> bool:
        return self.allows_address(peer.host) and self.allows_certificate(
            peer.subject_cn, peer.fingerprint
        )


def server_ssl_context(
    certfile: str, keyfile: str, *, client_cafile: str | None = None
) -> ssl.SSLContext:
    """A TLS 1.2+ server context; with ``client_cafile`` clients must present a certificate
    signed by that CA (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if client_cafile:
        context.load_verify_locations(client_cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _certificate_identity(ssl_object: Any) -> tuple[str | None, str | None]:
    if ssl_object is None:
        return None, None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None, None
    fingerprint = hashlib.sha256(der).hexdigest()
    subject = ssl_object.getpeercert().get("subject", ())
    names = [value for rdn in subject for key, value in rdn if key == "commonName"]
    return (names[0] if names else None), fingerprint


class MllpServer:
    """An asyncio MLLP listener. Use as ``async with MllpServer(handler, port=0) as srv``;
    ``srv.port`` is the bound port.

    Connections are a bounded resource, counted from the moment they are accepted (before
    any TLS handshake): at most ``max_connections`` on the port and
    ``max_connections_per_peer`` from one source address; one more is closed at once.
    A new connection must start its first frame within ``first_frame_timeout`` (the TLS
    handshake included) or it is closed, so idle sockets cannot hold the slots;
    ``idle_timeout`` then closes a connection that starts no further frame for that long.
    ``frame_timeout`` bounds one frame from start block to end block; ``limits.max_bytes``
    caps a frame.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        allowed_peers: PeerAllowList | None = None,
        limits: Limits = DEFAULT_LIMITS,
        idle_timeout: float = 600.0,
        frame_timeout: float = 30.0,
        write_timeout: float = 30.0,
        max_connections: int = 256,
        max_connections_per_peer: int = 32,
        first_frame_timeout: float = 10.0,
        refuse: Refuser | None = None,
    ):
        if ssl_context is not None and ssl_context.minimum_version < ssl.TLSVersion.TLSv1_2:
            raise ConfigError("MLLP over TLS needs TLS 1.2 or later (minimum_version)")
        self.handler = handler
        self.host = host
        self._port = port
        self.ssl_context = ssl_context
        self.allowed_peers = allowed_peers or PeerAllowList()
        self.limits = limits
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.write_timeout = write_timeout
        self.max_connections = max_connections
        self.max_connections_per_peer = max_connections_per_peer
        self.first_frame_timeout = first_frame_timeout
        self.refuse = refuse
        self._sockets: list[socket.socket] = []
        self._acceptors: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: open connections per source address (counted from accept)
        self._per_peer: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._refusals = _RefusalLog()
        #: counters for health pages: connections, frames, refused, garbage bytes, and
        #: connections closed because no first frame started in time
        self.stats = {
            "connections": 0,
            "frames": 0,
            "refused": 0,
            "garbage_bytes": 0,
            "first_frame_timeouts": 0,
        }

    @property
    def port(self) -> int:
        if not self._sockets:
            return self._port
        port: int = self._sockets[0].getsockname()[1]
        return port

    @property
    def active_connections(self) -> int:
        return len(self._tasks)

    def connections_from(self, host: str) -> int:
        """Open connections from one source address."""
        return self._per_peer[_peer_key(host)]

    async def start(self) -> None:
        self._sockets = await _listen(self.host, self._port)
        self._acceptors = [asyncio.create_task(self._accept_loop(s)) for s in self._sockets]
        log.info("mllp server listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        for acceptor in self._acceptors:
            acceptor.cancel()
        await asyncio.gather(*self._acceptors, return_exceptions=True)
        self._acceptors = []
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> MllpServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ accepting

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(listener)
            except (ConnectionAbortedError, ConnectionResetError, InterruptedError):
                continue  # the client gave up between SYN and accept
            except OSError as exc:
                # out of file descriptors or the like: wait instead of spinning, and say so
                log.error("mllp accept failed on port %d: %s", self.port, _errname(exc))
                await asyncio.sleep(1.0)
                continue
            self._accept(sock, address)

    def _accept(self, sock: socket.socket, address: Any) -> None:
        """Admit or close a just-accepted socket; synchronous, so the counts are exact."""
        host = _peer_key(str(address[0]))
        reason = self._over_limit(host)
        if reason is not None:
            self.stats["refused"] += 1
            self._refusals.note(host, reason)
            sock.close()
            return
        self._per_peer[host] += 1
        self.stats["connections"] += 1
        task = asyncio.create_task(self._connection(sock, host, int(address[1])))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._release(done, sock, host))

    def _over_limit(self, host: str) -> str | None:
        if not self.allowed_peers.allows_address(host):
            return "address not allowed"
        if len(self._tasks) >= self.max_connections:
            return f"port full ({self.max_connections} connections)"
        if self._per_peer[host] >= self.max_connections_per_peer:
            return f"peer has {self.max_connections_per_peer} connections open"
        return None

    def _release(self, task: asyncio.Task[None], sock: socket.socket, host: str) -> None:
        self._tasks.discard(task)
        self._per_peer[host] -= 1
        if self._per_peer[host] <= 0:
            del self._per_peer[host]
        sock.close()  # a no-op once its transport closed it; frees it if never started

    # ------------------------------------------------------------------ one connection

    async def _connection(self, sock: socket.socket, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        cid = next(self._ids)
        first_deadline = loop.time() + self.first_frame_timeout
        streams = await self._open_streams(sock, cid, host, first_deadline)
        if streams is None:
            return
        reader, writer = streams
        peer = self._peer(writer, cid, host, port)
        out = MllpWriter(writer)
        try:
            if not self.allowed_peers.allows_certificate(peer.subject_cn, peer.fingerprint):
                self.stats["refused"] += 1
                log.warning("mllp conn=%d refused: certificate of %s not allowed", cid, host)
                return
            mllp = MllpReader(reader, max_frame=self.limits.max_bytes)
            try:
                await self._serve(mllp, out, peer, first_deadline)
            finally:
                self.stats["garbage_bytes"] += mllp.garbage
                if mllp.garbage:
                    log.warning("mllp conn=%d skipped %d bytes outside frames", cid, mllp.garbage)
        finally:
            await out.close()

    async def _open_streams(
        self, sock: socket.socket, cid: int, host: str, deadline: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Streams over the accepted socket, after the TLS handshake on a TLS port; None
        when the handshake fails or does not finish before ``deadline``."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            async with asyncio.timeout_at(deadline):
                transport, _ = await loop.connect_accepted_socket(
                    lambda: protocol,
                    sock,
                    ssl=self.ssl_context,
                    # the deadline above ends a slow handshake first; this is a backstop
                    ssl_handshake_timeout=(
                        self.first_frame_timeout + 1.0 if self.ssl_context else None
                    ),
                )
        except (TimeoutError, OSError) as exc:
            if isinstance(exc, TimeoutError):
                self.stats["first_frame_timeouts"] += 1
            log.info("mllp conn=%d from %s closed: TLS handshake %s", cid, host, _errname(exc))
            return None
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    def _peer(self, writer: asyncio.StreamWriter, cid: int, host: str, port: int) -> PeerInfo:
        subject_cn, fingerprint = _certificate_identity(writer.get_extra_info("ssl_object"))
        tls = writer.get_extra_info("ssl_object") is not None
        return PeerInfo(host, port, cid, tls, subject_cn, fingerprint)

    async def _serve(
        self, mllp: MllpReader, out: MllpWriter, peer: PeerInfo, first_deadline: float
    ) -> None:
        cid = peer.connection_id
        loop = asyncio.get_running_loop()
        # the first frame must start by first_deadline; later ones within idle_timeout
        proven = False
        try:
            while True:
                wait = self.idle_timeout
                if not proven:
                    wait = min(wait, max(first_deadline - loop.time(), 0.0))
                payload = await mllp.read_frame(idle_timeout=wait, frame_timeout=self.frame_timeout)
                if payload is None:
                    break
                proven = True
                self.stats["frames"] += 1
                answer = await self.handler(payload, peer)
                for frame in [answer] if isinstance(answer, bytes) else answer:
                    await out.write_frame(frame, within=self.write_timeout)
        except FrameTooLarge as exc:
            log.warning("mllp conn=%d frame refused: over %d bytes", cid, self.limits.max_bytes)
            await self._refuse(out, exc, peer)
        except IncompleteFrame as exc:
            log.warning("mllp conn=%d frame refused: %s", cid, exc.message)
            await self._refuse(out, exc, peer)
        except FramingError as exc:
            log.warning("mllp conn=%d closed: %s", cid, exc.message)
        except TimeoutError:
            if proven:
                log.info("mllp conn=%d closed: idle for %g s", cid, self.idle_timeout)
            else:
                self.stats["first_frame_timeouts"] += 1
                log.info("mllp conn=%d from %s closed: no frame started in time", cid, peer.host)
        except (ConnectionError, OSError) as exc:
            log.info("mllp conn=%d closed by network error %s", cid, type(exc).__name__)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # a handler failure must not be answered as if the message was accepted
            log.error("mllp conn=%d handler failed: %s; closing", cid, type(exc).__name__)

    async def _refuse(
        self, out: MllpWriter, exc: FrameTooLarge | IncompleteFrame, peer: PeerInfo
    ) -> None:
        self.stats["refused"] += 1
        if self.refuse is None:
            return
        try:
            answer = await self.refuse(exc.head, exc, peer)
            if answer is not None:
                await out.write_frame(answer, within=self.write_timeout)
        except Exception as failure:
            log.error(
                "mllp conn=%d refusal not sent: %s", peer.connection_id, type(failure).__name__
            )


class _RefusalLog:
    """Connections refused at accept, logged without flooding: the first refusal of a peer
    for a reason is logged at once, later ones at most every ``every`` seconds with the
    count since. Peer addresses and counts only."""

    def __init__(self, every: float = 10.0):
        self.every = every
        self._last: dict[tuple[str, str], float] = {}
        self._since: Counter[tuple[str, str]] = Counter()

    def note(self, host: str, reason: str) -> None:
        key = (host, reason)
        now = time.monotonic()
        self._since[key] += 1
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            return
        count = self._since.pop(key)
        self._last[key] = now
        if len(self._last) > 4096:  # a flood from many addresses: forget the oldest
            oldest = min(self._last, key=self._last.__getitem__)
            del self._last[oldest]
        log.warning("mllp refused %d connection(s) from %s: %s", count, host, reason)


def _peer_key(host: str) -> str:
    """The source address a per-peer cap counts: an IPv4-mapped IPv6 address as IPv4."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _errname(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    name = errno.errorcode.get(code, "") if isinstance(code, int) else ""
    return f"{type(exc).__name__}{' ' + name if name else ''}"


async def _listen(host: str, port: int, backlog: int = 128) -> list[socket.socket]:
    """Listening sockets for every address ``host`` resolves to (like ``asyncio`` does);
    with port 0, the first socket's port for the others."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, where in infos:
            if (family, where) in seen:
                continue
            seen.add((family, where))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            same_port = port == 0 and len(sockets) > 1
            sock.bind((where[0], sockets[0].getsockname()[1], *where[2:]) if same_port else where)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
