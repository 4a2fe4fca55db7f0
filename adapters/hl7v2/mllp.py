"""MLLP framing (HL7 v2 Minimal Lower Layer Protocol, Appendix C): ``0x0B payload 0x1C 0x0D``.

A layer of its own below HL7: it knows bytes and frames, never segments. ``FrameDecoder`` is
the protocol machine without I/O; ``MllpReader``/``MllpWriter`` put it on asyncio streams,
shaped like ``asyncio.StreamReader``/``StreamWriter``.

Error tree (all ``hub.errors`` types, so a caller sorts them like any other)::

    ParseError
    ├── FramingError          bytes are not a complete frame
    │   └── IncompleteFrame   a start block, then EOF or the frame timeout, before the end block
    └── LimitExceeded
        └── FrameTooLarge     a frame over the size cap (``head`` keeps its first bytes)
"""

from __future__ import annotations

import asyncio

from hub.errors import LimitExceeded, ParseError

__all__ = [
    "END_BLOCK",
    "START_BLOCK",
    "FrameDecoder",
    "FrameTooLarge",
    "FramingError",
    "IncompleteFrame",
    "MllpReader",
    "MllpWriter",
    "frame",
]

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
_CR = 0x0D
#: bytes of a refused frame kept so the refusal can still echo MSH-10
HEAD_BYTES = 4096
_READ_CHUNK = 64 * 1024


class FramingError(ParseError):
    """The bytes on the wire are not a complete MLLP frame."""


class IncompleteFrame(FramingError):
    """A frame was started but not ended (EOF or frame timeout before the end block).
    ``head`` holds the bytes received so far (at most the frame cap)."""

    def __init__(self, message: str, head: bytes = b""):
        super().__init__(message, location="frame")
        self.head = head


class FrameTooLarge(LimitExceeded):
    """A frame is over the size cap. ``head`` holds its first bytes (usually the MSH)."""

    def __init__(self, message: str, head: bytes):
        super().__init__(message, location="frame")
        self.head = head


def frame(payload: bytes) -> bytes:
    """``payload`` wrapped in an MLLP frame."""
    return START_BLOCK + payload + END_BLOCK + b"\r"


class FrameDecoder:
    """Turns a byte stream into frames. Bytes outside a frame are skipped and counted in
    ``garbage``; a missing CR after the end block is tolerated."""

    def __init__(self, max_frame: int):
        self.max_frame = max_frame
        #: bytes skipped because they were outside any frame
        self.garbage = 0
        self._buf = bytearray()
        self._in_frame = False
        self._scanned = 0
        self._cr_may_follow = False

    @property
    def in_frame(self) -> bool:
        """A start block was seen and its end block not yet."""
        return self._in_frame

    def feed(self, data: bytes) -> None:
        self._buf += data

    def partial(self) -> bytes:
        """The payload bytes of the frame in progress (empty outside a frame)."""
        return bytes(self._buf) if self._in_frame else b""

    def next_frame(self) -> bytes | None:
        """The next complete frame's payload, or None until more bytes are fed.

        Raises ``FrameTooLarge`` once the current frame is known to be over ``max_frame``.
        """
        if not self._in_frame and not self._find_start():
            return None
        buf = self._buf
        end = buf.find(END_BLOCK, self._scanned)
        if end < 0:
            self._scanned = len(buf)
            self._check_size(len(buf))
            return None
        self._check_size(end)
        payload = bytes(buf[:end])
        consumed = end + 1
        if consumed < len(buf) and buf[consumed] == _CR:
            consumed += 1
        else:
            self._cr_may_follow = consumed == len(buf)
        del buf[:consumed]
        self._in_frame = False
        return payload

    def _find_start(self) -> bool:
        buf = self._buf
        if self._cr_may_follow and buf:
            # the CR ending the previous frame arrived in a later read: not garbage
            if buf[0] == _CR:
                del buf[0]
            self._cr_may_follow = False
        start = buf.find(START_BLOCK)
        if start < 0:
            self.garbage += len(buf)
            buf.clear()
            return False
        self.garbage += start
        del buf[: start + 1]
        self._in_frame = True
        self._scanned = 0
        return True

    def _check_size(self, size: int) -> None:
        if size > self.max_frame:
            raise FrameTooLarge(f"frame over {self.max_frame} bytes", bytes(self._buf[:HEAD_BYTES]))


class MllpReader:
    """Reads frames from an ``asyncio.StreamReader``."""

    def __init__(self, reader: asyncio.StreamReader, *, max_frame: int):
        self._reader = reader
        self.decoder = FrameDecoder(max_frame)

    @property
    def garbage(self) -> int:
        return self.decoder.garbage

    async def read_frame(
        self, *, idle_timeout: float | None = None, frame_timeout: float | None = None
    ) -> bytes | None:
        """The next frame's payload; None at a clean end of stream.

        ``idle_timeout`` bounds the wait for a frame to start (``TimeoutError``);
        ``frame_timeout`` bounds a started frame (``IncompleteFrame``), as does EOF inside one.
        """
        loop = asyncio.get_running_loop()
        idle_deadline = None if idle_timeout is None else loop.time() + idle_timeout
        frame_deadline: float | None = None
        while True:
            payload = self.decoder.next_frame()
            if payload is not None:
                return payload
            if self.decoder.in_frame and frame_deadline is None and frame_timeout is not None:
                frame_deadline = loop.time() + frame_timeout
            chunk = await self._read(
                loop, frame_deadline if self.decoder.in_frame else idle_deadline
            )
            if not chunk:
                if self.decoder.in_frame:
                    raise IncompleteFrame(
                        "connection closed inside a frame", self.decoder.partial()
                    )
                return None
            self.decoder.feed(chunk)

    async def _read(self, loop: asyncio.AbstractEventLoop, deadline: float | None) -> bytes:
        timeout = None if deadline is None else max(deadline - loop.time(), 0.0)
        try:
            return await asyncio.wait_for(self._reader.read(_READ_CHUNK), timeout)
        except TimeoutError:
            if self.decoder.in_frame:
                raise IncompleteFrame(
                    "frame not completed in time", self.decoder.partial()
                ) from None
            raise


class MllpWriter:
    """Writes frames to an ``asyncio.StreamWriter``."""

    def __init__(self, writer: asyncio.StreamWriter):
        self._writer = writer

    @property
    def transport_writer(self) -> asyncio.StreamWriter:
        return self._writer

    async def write_frame(self, payload: bytes, *, within: float | None = None) -> None:
        """Send ``payload`` framed and wait (up to ``within`` seconds) until it is flushed."""
        self._writer.write(frame(payload))
        await asyncio.wait_for(self._writer.drain(), within)

    async def close(self, grace: float = 5.0) -> None:
        """Close, flushing what is buffered for up to ``grace`` seconds; a peer that does not
        read it by then is cut off (the transport is aborted, its socket freed)."""
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), grace)
        except TimeoutError:
            self._writer.transport.abort()
        except asyncio.CancelledError:
            self._writer.transport.abort()  # never leave the socket to whoever runs next
            raise
        except Exception:
            pass  # closing a connection that already failed
