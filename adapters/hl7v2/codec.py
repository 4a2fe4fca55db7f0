"""HL7 v2 codec: wire bytes ↔ ``Message``.

Written here rather than taken from hl7apy or python-hl7 because parsing is the hot path and
those are measured at ~100 and ~2,700 messages/s on this machine (``bench/hl7v2_codec.py``);
this parser splits segments and fields only, and everything below a field on access.

``parse`` raises ``ParseError`` (or ``LimitExceeded``) and nothing else. What it tolerates —
a BOM, CR/LF/CRLF endings, trailing or inner blank lines, a doubled delimiter in MSH-2, a
character set that does not match MSH-18 — it records as findings on the message.
"""

from __future__ import annotations

import logging

from hub.errors import ParseError
from hub.findings import Finding, Severity

from .charset import decode_bytes
from .encoding import DEFAULT_ENCODING, EncodingChars
from .limits import DEFAULT_LIMITS, Limits, check_lines
from .message import Message, Segment

__all__ = [
    "BATCH_SEGMENTS",
    "Hl7v2Codec",
    "is_segment_line",
    "parse",
    "read_header",
    "render",
    "split_lines",
]

log = logging.getLogger(__name__)

#: file and batch envelope segments (v2.x chapter 2.10.3)
BATCH_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})


def split_lines(text: str) -> tuple[list[str], bool]:
    """Segment lines of ``text`` (CR, LF or CRLF endings), trailing blank lines dropped, and
    whether a terminator followed the last segment."""
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    lines = text.split("\r")
    kept = len(lines)
    while kept and not lines[kept - 1].strip():
        kept -= 1
    final = kept < len(lines)
    del lines[kept:]
    return lines, final


def is_segment_line(line: str, field_sep: str) -> bool:
    """A line that starts with a segment id (three capitals or digits) and the separator."""
    seg_id = line[:3]
    return (
        len(seg_id) == 3
        and seg_id.isascii()
        and seg_id.isalnum()
        and seg_id.isupper()
        and (len(line) == 3 or line[3] == field_sep)
    )


def header_encoding(line: str, seg_id: str) -> tuple[EncodingChars, list[str]]:
    """The delimiters declared by a header line (MSH, FHS or BHS)."""
    if len(line) < 4:
        raise ParseError("field separator missing", code="102", location=f"{seg_id}-1")
    field_sep = line[3]
    return EncodingChars.from_header(field_sep, line[4:].split(field_sep, 1)[0], seg_id)


def parse(data: bytes | str, *, limits: Limits = DEFAULT_LIMITS) -> Message:
    """Parse one message. Raises ``ParseError`` (``LimitExceeded`` when over ``limits``)."""
    try:
        return _parse(data, limits)
    except ParseError:
        raise
    except Exception as exc:
        # a bug, not bad input: still answer as a parse failure, and say so (no content)
        log.error("hl7v2 parser failed unexpectedly: %s", type(exc).__name__)
        raise ParseError("message could not be parsed", code="207") from exc


def _parse(data: bytes | str, limits: Limits) -> Message:
    limits.check_size(len(data))
    if isinstance(data, str):
        text, codec, findings = data.removeprefix("\ufeff"), "utf-8", []
    else:
        decoded = decode_bytes(data)
        text, codec, findings = decoded.text, decoded.codec, decoded.findings
    lines, final = split_lines(text)
    if not lines:
        raise ParseError("no segments", code="100", location="message")
    first = lines[0]
    if not first.startswith("MSH"):
        raise ParseError(_first_segment_problem(first), code="100", location="segment 1")
    enc, warnings = header_encoding(first, "MSH")
    findings.extend(Finding(Severity.WARNING, "value", w, "MSH-2") for w in warnings)
    check_lines(lines, enc, limits)
    segments = _segments(lines, enc, findings)
    return Message(segments, enc, codec=codec, findings=findings, final_terminator=final)


def _first_segment_problem(line: str) -> str:
    if line[:3] in BATCH_SEGMENTS:
        return "a batch file: parse it with parse_batch or split_messages"
    return "first segment is not MSH"


def _segments(lines: list[str], enc: EncodingChars, findings: list[Finding]) -> list[Segment]:
    fs = enc.field
    segments = [Segment.from_line(lines[0], enc)]
    append = segments.append
    for number, line in enumerate(lines[1:], 2):
        seg_id = line[:3]
        # is_segment_line, inlined: this loop runs for every segment of every message
        if not (
            len(seg_id) == 3
            and seg_id.isupper()
            and seg_id.isalnum()
            and seg_id.isascii()
            and (len(line) == 3 or line[3] == fs)
        ):
            if not line.strip():
                findings.append(
                    Finding(
                        Severity.INFORMATION, "structure", "blank line skipped", f"line {number}"
                    )
                )
                continue
            raise ParseError(
                "not a segment (bad segment id)", code="100", location=f"line {number}"
            )
        if seg_id == "MSH" or seg_id in BATCH_SEGMENTS:
            raise ParseError(
                f"unexpected {seg_id}: more than one message", code="100", location=f"line {number}"
            )
        append(Segment(line.split(fs), enc, line))
    return segments


def render(message: Message) -> bytes:
    """The message as bytes (segments ended by CR, in the codec it was read with)."""
    return message.render()


def read_header(data: bytes) -> Segment | None:
    """The MSH segment of ``data`` read leniently, for answering a message that failed to
    parse (MSA-2 must still echo MSH-10). Never raises; None when there is no MSH at all."""
    try:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 (a byte order mark)
            text = data.decode("utf-16", "replace")
        else:
            start = data.find(b"MSH")
            if start < 0:
                return None
            text = data[start:].split(b"\r", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")
        start = text.find("MSH")
        if start < 0:
            return None
        line = text[start:].split("\r", 1)[0].split("\n", 1)[0]
        try:
            enc, _ = header_encoding(line, "MSH")
        except ParseError:
            if len(line) < 4 or line[3].isalnum():
                return None
            enc = EncodingChars(line[3], *DEFAULT_ENCODING.msh2[:4])
        return Segment.from_line(line, enc)
    except Exception:  # a best-effort look: any failure just means "no header"
        return None


class Hl7v2Codec:
    """The ``hub.ports.Codec`` for HL7 v2: ``parse(bytes) -> Message``, ``render(Message)``."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS):
        self.limits = limits

    def parse(self, data: bytes) -> Message:
        return parse(data, limits=self.limits)

    def render(self, native: Message) -> bytes:
        return native.render()
