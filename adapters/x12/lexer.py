"""Streaming X12 lexer: bytes in chunks → ISA headers, segments and the text between.

Memory stays bounded by one chunk plus the longest segment: the lexer never holds more
than that, whatever the size of the file. Every character read ends up in exactly one
place — a segment's text, its terminator, the line breaks after it (``Segment.after``), or
the text outside interchanges (``IsaToken.leading``, ``EndToken.trailing``) — which is what
makes ``render(parse(x)) == x`` hold for broken files too.

Text is decoded as ISO-8859-1: one character per byte, lossless, so offsets and the round
trip stay exact whatever the partner sent (X12 itself is ASCII-based).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from adapters.x12.delimiters import IsaHeader, read_isa
from adapters.x12.segment import Segment
from hub.errors import LimitExceeded, ParseError

__all__ = ["DEFAULT_CHUNK", "EndToken", "IsaToken", "Lexer", "Token"]

DEFAULT_CHUNK = 65536
_BREAKS = "\r\n"
_ALNUM_SPACE = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz \r\n")


@dataclass(slots=True)
class IsaToken:
    """A new interchange starts: its ISA, and the text found before it (BOM, prose, …)."""

    header: IsaHeader
    segment: Segment
    leading: str


@dataclass(slots=True)
class EndToken:
    """End of input; ``trailing`` is the text after the last interchange."""

    trailing: str


Token = IsaToken | Segment | EndToken


class Lexer:
    """Iterate tokens from a binary stream, reading ``chunk_size`` bytes at a time.

    ``max_segment`` bounds the text searched for one segment terminator and
    ``max_junk`` the text kept between interchanges; past them ``LimitExceeded`` is
    raised, so a file without terminators cannot exhaust memory.
    """

    def __init__(
        self,
        stream: BinaryIO,
        chunk_size: int = DEFAULT_CHUNK,
        max_segment: int = 1 << 20,
        max_junk: int = 1 << 20,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._stream = stream
        self._chunk = chunk_size
        self._max_segment = max_segment
        self._max_junk = max_junk
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._pending: IsaToken | Segment | None = None

    # ------------------------------------------------------------------ driving

    def __iter__(self) -> Iterator[Token]:
        while True:
            leading: list[str] = []
            header = self._find_isa(leading)
            if self._pending is not None:
                yield self._pending
                self._pending = None
            if header is None:
                yield EndToken("".join(leading))
                return
            isa = Segment(header.raw, header.delimiters)
            self._pos += len(header.raw) + 1
            self._pending = IsaToken(header, isa, "".join(leading))
            yield from self._segments(header)

    def _fill(self) -> None:
        """Drop consumed text and append the next chunk (ISO-8859-1, one char per byte)."""
        try:
            data = self._stream.read(self._chunk)
        except (OSError, ValueError) as exc:
            raise ParseError(f"cannot read the X12 stream: {type(exc).__name__}") from exc
        self._buf = self._buf[self._pos :] + data.decode("latin-1")
        self._pos = 0
        if not data:
            self._eof = True

    # ------------------------------------------------------------------ between interchanges

    def _find_isa(self, leading: list[str]) -> IsaHeader | None:
        """Skip to the next ISA; the text skipped goes to ``leading``. None at end of input."""
        self._take_breaks()
        while True:
            buf, pos = self._buf, self._pos
            idx = buf.find("ISA", pos)
            if idx < 0:
                cut = len(buf) if self._eof else max(pos, len(buf) - 2)
                self._skip(leading, cut)
                if self._eof:
                    return None
                self._fill()
                continue
            found = read_isa(buf, idx, self._eof)
            if isinstance(found, IsaHeader):
                self._skip(leading, idx)
                return found
            if found is None:
                self._skip(leading, idx + 1)
            else:  # False: more text needed to decide
                self._skip(leading, idx)
                self._fill()

    def _skip(self, leading: list[str], upto: int) -> None:
        if upto > self._pos:
            leading.append(self._buf[self._pos : upto])
            self._pos = upto
            if sum(map(len, leading)) > self._max_junk:
                raise LimitExceeded(
                    f"more than {self._max_junk} characters outside any interchange", location="ISA"
                )

    def _take_breaks(self) -> None:
        """Line breaks right after the last terminator belong to the last segment."""
        if self._pending is None:
            return
        while True:
            buf, pos = self._buf, self._pos
            end = pos
            while end < len(buf) and buf[end] in _BREAKS:
                end += 1
            if end == len(buf) and not self._eof:
                self._fill()
                continue
            if end > pos:
                self._attach_after(buf[pos:end])
                self._pos = end
            return

    # ------------------------------------------------------------------ inside an interchange

    def _segments(self, header: IsaHeader) -> Iterator[Token]:
        """Segments after the ISA until IEA, a new ISA, or end of input."""
        term = header.delimiters.segment
        breaks = _BREAKS.replace(term, "")
        while True:
            last = self._buf.rfind(term, self._pos)
            if last < 0:
                if self._eof:
                    yield from self._last_piece(breaks, header)
                    return
                if len(self._buf) - self._pos > self._max_segment:
                    raise LimitExceeded(
                        f"no segment terminator within {self._max_segment} characters",
                        location="ISA16",
                    )
                self._fill()
                continue
            # every complete segment in the buffer at once: one split, not one find each
            done = yield from self._pieces(self._buf[self._pos : last].split(term), header, breaks)
            if done:
                return

    def _pieces(
        self, pieces: list[str], header: IsaHeader, breaks: str
    ) -> Generator[Token, None, bool]:
        """Turn terminated pieces into segments; True when the interchange ended."""
        delims = header.delimiters
        for piece in pieces:
            body = piece
            if breaks and piece[:1] in breaks and piece:
                body = piece.lstrip(breaks)
                self._attach_after(piece[: len(piece) - len(body)])
                if _starts_isa(body):
                    # a new interchange without IEA: hand back to the ISA search
                    self._pos += len(piece) - len(body)
                    return True
            elif body[:3] == "ISA" and _starts_isa(body):
                return True
            self._pos += len(piece) + 1
            seg = Segment(body, delims)
            if self._pending is not None:
                yield self._pending
            self._pending = seg
            if seg.id == "IEA":
                return True
        return False

    def _last_piece(self, breaks: str, header: IsaHeader) -> Iterator[Token]:
        """At end of input inside an interchange: an unterminated last segment, if any."""
        piece = self._buf[self._pos :]
        self._pos = len(self._buf)
        body = piece.lstrip(breaks) if breaks else piece
        if len(body) != len(piece):
            self._attach_after(piece[: len(piece) - len(body)])
        if body:
            if self._pending is not None:
                yield self._pending
            self._pending = Segment(body, header.delimiters, terminated=False)

    def _attach_after(self, text: str) -> None:
        pending = self._pending
        if isinstance(pending, IsaToken):
            pending.segment.after += text
        elif pending is not None:
            pending.after += text


def _starts_isa(body: str) -> bool:
    return body.startswith("ISA") and len(body) > 3 and body[3] not in _ALNUM_SPACE
