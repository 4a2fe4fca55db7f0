"""MLLP client: ``MllpClient`` (one persistent connection, frame out / frame in) and
``MllpSender`` (outbound delivery: matches the ACK to the message, retries, sorts errors).

Network errors are translated here, once: refused/reset/closed → ``PartnerUnavailable``, a
wait past its deadline → ``DeliveryTimeout`` (both transient), an AE/AR/CE/CR answer →
``PartnerRejected`` (permanent) carrying the partner's ERR/MSA-3 text.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from types import TracebackType

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from hub.errors import (
    DeliveryTimeout,
    ParseError,
    PartnerRejected,
    PartnerUnavailable,
    TransientError,
)

from .codec import parse, read_header
from .limits import DEFAULT_LIMITS, Limits
from .message import Message
from .mllp import FramingError, MllpReader, MllpWriter

__all__ = ["ACCEPT_CODES", "REJECT_CODES", "MllpClient", "MllpSender"]

log = logging.getLogger(__name__)

#: MSA-1 codes (HL7 table 0008) that mean the partner took the message
ACCEPT_CODES = frozenset({"AA", "CA"})
#: MSA-1 codes that mean it did not
REJECT_CODES = frozenset({"AE", "AR", "CE", "CR"})


class MllpClient:
    """One MLLP connection: ``send(message) -> ack bytes``; every wait has a timeout."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = 30.0,
        limits: Limits = DEFAULT_LIMITS,
    ):
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.timeout = timeout
        self.limits = limits
        self._reader: MllpReader | None = None
        self._writer: MllpWriter | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.transport_writer.is_closing()

    async def connect(self) -> None:
        """Open the connection (and TLS handshake) within ``timeout``."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self.ssl_context,
                    server_hostname=self.server_hostname if self.ssl_context else None,
                ),
                self.timeout,
            )
        except TimeoutError as exc:
            raise DeliveryTimeout(f"connect to {self.host}:{self.port} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise PartnerUnavailable(
                f"connect to {self.host}:{self.port} failed: {type(exc).__name__}"
            ) from exc
        self._reader = MllpReader(reader, max_frame=self.limits.max_bytes)
        self._writer = MllpWriter(writer)

    async def write(self, message: bytes) -> None:
        """Send one framed message."""
        _, writer = await self._streams()
        try:
            await writer.write_frame(message, within=self.timeout)
        except TimeoutError as exc:
            raise DeliveryTimeout("send timed out") from exc
        except OSError as exc:
            raise PartnerUnavailable(f"send failed: {type(exc).__name__}") from exc

    async def read(self, within: float | None = None) -> bytes:
        """The next frame from the partner, within ``within`` seconds (default: ``timeout``)."""
        reader, _ = await self._streams()
        wait = self.timeout if within is None else within
        try:
            payload = await reader.read_frame(idle_timeout=wait, frame_timeout=wait)
        except TimeoutError as exc:
            raise DeliveryTimeout(f"no answer within {wait:g}s") from exc
        except FramingError as exc:
            raise PartnerUnavailable(f"bad frame from partner: {exc.message}") from exc
        except OSError as exc:
            raise PartnerUnavailable(f"read failed: {type(exc).__name__}") from exc
        if payload is None:
            raise PartnerUnavailable("connection closed by partner")
        return payload

    async def send(self, message: bytes, within: float | None = None) -> bytes:
        """Send ``message`` and return the next frame the partner sends back."""
        await self.write(message)
        return await self.read(within)

    async def _streams(self) -> tuple[MllpReader, MllpWriter]:
        if not self.connected:
            await self.connect()
        assert self._reader is not None and self._writer is not None
        return self._reader, self._writer

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        self._reader = self._writer = None

    async def __aenter__(self) -> MllpClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class MllpSender:
    """Outbound HL7 over MLLP with acknowledgement matching and bounded retries.

    ``send`` waits for the ACK whose MSA-2 echoes the message's MSH-10; any other frame (a
    late ACK for an earlier message, noise) is discarded and reading goes on until the ACK
    timeout. Transient failures reconnect and retry with exponential back-off (tenacity),
    ``attempts`` times in all; then the last ``PartnerUnavailable``/``DeliveryTimeout``
    propagates for the broker's retry tiers. AE/AR/CE/CR raise ``PartnerRejected``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        ack_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        attempts: int = 3,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ):
        self._client = MllpClient(
            host,
            port,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            timeout=connect_timeout,
        )
        self.ack_timeout = ack_timeout
        self.attempts = attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        #: frames read and thrown away because they answered another message
        self.discarded = 0

    async def send(self, message: bytes) -> Message:
        """Deliver ``message``; returns the partner's accepting ACK (AA or CA)."""
        control_id = _control_id(message)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max)
            + wait_random(0, self.backoff_initial),
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                ack = await self._attempt(message, control_id)
        return _accepted(ack)

    async def _attempt(self, message: bytes, control_id: str) -> Message:
        try:
            await self._client.write(message)
            return await self._await_ack(control_id)
        except TransientError as exc:
            log.warning("mllp send of %s failed: %s", control_id, type(exc).__name__)
            # a fresh connection, so a late ACK on this one cannot be mistaken later
            await self._client.close()
            raise

    async def _await_ack(self, control_id: str) -> Message:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DeliveryTimeout(f"no ACK for {control_id} within {self.ack_timeout:g}s")
            frame = await self._client.read(within=remaining)
            try:
                ack = parse(frame)
            except ParseError:
                self.discarded += 1
                continue
            if ack.get("MSA-2") == control_id:
                return ack
            self.discarded += 1
            log.info("mllp discarded an ACK that does not answer %s", control_id)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> MllpSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _control_id(message: bytes) -> str:
    header = read_header(message)
    control_id = header.value(10) if header is not None else None
    if not control_id:
        raise ValueError("an outbound message needs MSH-10 to match its ACK")
    return control_id


def _accepted(ack: Message) -> Message:
    """``ack`` when MSA-1 accepts; ``PartnerRejected`` with the partner's own words else."""
    code = ack.get("MSA-1") or ""
    if code in ACCEPT_CODES:
        return ack
    text = ack.get("ERR-8") or ack.get("ERR-3.2") or ack.get("MSA-3") or ack.get("ERR-1.4.2")
    raise PartnerRejected(text or f"partner answered {code or 'without MSA-1'}", code=code or None)
