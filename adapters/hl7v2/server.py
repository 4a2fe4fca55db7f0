"""MLLP server on asyncio: frames in, the handler's answer out, in order per connection.

The server never parses HL7: each frame goes to ``handler(frame, peer)``, which returns the
bytes to answer with (the pipeline wired in ``carehub.app`` stores, checks, maps and builds
the ACK). A frame over the size cap is answered with what ``refuse(head, error, peer)``
builds, then the connection is closed; so is a frame not ended within ``frame_timeout`` (or
before EOF), with the bytes received so far. Other framing errors close the connection with
a log line that carries ids and counts only, never message content.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import itertools
import logging
import ssl
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

    ``idle_timeout`` closes a connection that starts no frame for that long;
    ``frame_timeout`` bounds one frame from start block to end block (and the TLS
    handshake); ``limits.max_bytes`` caps a frame; ``max_connections`` caps concurrent
    connections (more are closed at once).
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
        max_connections: int = 64,
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
        self.refuse = refuse
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        #: counters for health pages: connections, frames, refused, garbage bytes
        self.stats = {"connections": 0, "frames": 0, "refused": 0, "garbage_bytes": 0}

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def active_connections(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect,
            self.host,
            self._port,
            ssl=self.ssl_context,
            ssl_handshake_timeout=self.frame_timeout if self.ssl_context else None,
        )
        log.info("mllp server listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

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

    # ------------------------------------------------------------------ one connection

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = self._peer(writer)
        out = MllpWriter(writer)
        if not self._admit(peer):
            await out.close()
            return
        self._tasks.add(task)
        self.stats["connections"] += 1
        mllp = MllpReader(reader, max_frame=self.limits.max_bytes)
        try:
            await self._serve(mllp, out, peer)
        finally:
            self.stats["garbage_bytes"] += mllp.garbage
            if mllp.garbage:
                log.warning(
                    "mllp conn=%d skipped %d bytes outside frames", peer.connection_id, mllp.garbage
                )
            self._tasks.discard(task)
            await out.close()

    def _peer(self, writer: asyncio.StreamWriter) -> PeerInfo:
        peername = writer.get_extra_info("peername") or ("", 0)
        ssl_object = writer.get_extra_info("ssl_object")
        subject_cn, fingerprint = _certificate_identity(ssl_object)
        return PeerInfo(
            str(peername[0]),
            int(peername[1]),
            next(self._ids),
            ssl_object is not None,
            subject_cn,
            fingerprint,
        )

    def _admit(self, peer: PeerInfo) -> bool:
        if len(self._tasks) >= self.max_connections:
            log.warning(
                "mllp conn=%d refused: %d connections open", peer.connection_id, len(self._tasks)
            )
        elif not self.allowed_peers.allows(peer):
            log.warning("mllp conn=%d refused: peer %s not allowed", peer.connection_id, peer.host)
        else:
            return True
        self.stats["refused"] += 1
        return False

    async def _serve(self, mllp: MllpReader, out: MllpWriter, peer: PeerInfo) -> None:
        cid = peer.connection_id
        try:
            while (
                payload := await mllp.read_frame(
                    idle_timeout=self.idle_timeout, frame_timeout=self.frame_timeout
                )
            ) is not None:
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
            log.info("mllp conn=%d closed: idle or stalled", cid)
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
