"""X12 codec: bytes ↔ ``X12Document`` (wire ↔ native, nothing else).

``render(parse(x)) == x`` byte for byte, for well-formed and broken files alike: separators,
line breaks after terminators, text before the first ISA (a BOM, a note) and after the
last IEA are all kept. Only ``hub.errors.ParseError`` (and its ``LimitExceeded``) leaves
this module; a file that is X12 but broken parses, and conformance says what is wrong.
"""

from __future__ import annotations

import io

from adapters.x12.lexer import DEFAULT_CHUNK
from adapters.x12.model import Interchange, X12Document
from adapters.x12.reader import iter_interchanges
from hub.errors import ParseError

__all__ = ["X12Codec", "parse", "parse_interchange", "render"]


def parse(data: bytes, chunk_size: int = DEFAULT_CHUNK) -> X12Document:
    """Every interchange in ``data``; ``ParseError`` when there is none."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError(f"X12 input must be bytes, not {type(data).__name__}")
    interchanges = list(iter_interchanges(io.BytesIO(bytes(data)), chunk_size))
    if not interchanges:
        raise ParseError("no ISA interchange header found", location="ISA")
    return X12Document(interchanges)


def parse_interchange(data: bytes) -> Interchange:
    """Exactly one interchange (text around it is kept on it); ``ParseError`` otherwise."""
    doc = parse(data)
    if len(doc.interchanges) != 1:
        raise ParseError(f"expected one interchange, found {len(doc.interchanges)}", location="ISA")
    return doc.interchanges[0]


def render(native: X12Document | Interchange) -> bytes:
    """The exact bytes of a parsed document or interchange (ISO-8859-1, as read)."""
    return native.render().encode("latin-1")


class X12Codec:
    """``hub.ports.Codec`` for X12: ``parse`` → ``X12Document``, ``render`` → bytes."""

    def parse(self, data: bytes) -> X12Document:
        return parse(data)

    def render(self, native: X12Document) -> bytes:
        return render(native)
