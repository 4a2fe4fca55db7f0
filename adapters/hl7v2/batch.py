"""Batches and multi-message files (v2.x chapter 2.10.3).

``[FHS] [BHS] {MSH …} [BTS] [FTS]`` files, and the plain files many systems write with one
message after another, sometimes with blank lines or comments between them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hub.errors import ParseError
from hub.findings import Finding, Severity

from .charset import decode_bytes
from .codec import BATCH_SEGMENTS, header_encoding, is_segment_line, parse, split_lines
from .encoding import EncodingChars
from .limits import DEFAULT_LIMITS, Limits
from .message import Message, Segment

__all__ = ["Batch", "parse_batch", "split_messages"]

_LINE = re.compile(rb"([^\r\n]*)(\r\n|\r|\n|$)")
_SEGMENT_START = re.compile(rb"[A-Z0-9]{3}(?:[^A-Za-z0-9\r\n]|$)")


def split_messages(data: bytes) -> list[bytes]:
    """The messages in ``data``, each as its original bytes (line endings kept).

    A message starts at an MSH line and runs until the next MSH, a file/batch envelope line
    (FHS, BHS, BTS, FTS) or the end; blank lines inside it are kept (the parser skips them).
    A line that is not a segment stays part of the message — the parser judges it exactly
    as when the message is sent alone (a note with a bare LF is not cut off there, with the
    segments after it lost) — unless it comes after a blank line and no segment follows it
    before the next MSH: that is a comment between messages, and is dropped, like anything
    before the first MSH.
    """
    data = data.removeprefix(b"\xef\xbb\xbf")
    found: list[bytes] = []
    start = end = -1
    gap = False  # a blank line since the last line kept in the message
    for match in _LINE.finditer(data):
        if not match.group(0):
            break
        line = match.group(1)
        if not line.strip():
            gap = True
            continue
        is_segment = _SEGMENT_START.match(line) is not None
        if is_segment and line[:3] == b"MSH":
            _flush(found, data, start, end)
            start, end = match.start(), match.end()
        elif is_segment and line[:3] in _BATCH_BYTES:
            _flush(found, data, start, end)
            start = end = -1
        elif start >= 0 and (is_segment or not gap):
            end = match.end()  # up to here: any comment-like lines before it included
        elif not is_segment:
            continue  # after a blank line: kept only if a segment of the message follows
        if is_segment or not gap:
            gap = False
    _flush(found, data, start, end)
    return found


_BATCH_BYTES = frozenset(s.encode() for s in BATCH_SEGMENTS)


def _flush(found: list[bytes], data: bytes, start: int, end: int) -> None:
    if start >= 0:
        found.append(data[start:end])


@dataclass(slots=True)
class Batch:
    """A batch file: optional FHS/BHS headers, the messages, optional BTS/FTS trailers."""

    messages: list[Message] = field(default_factory=list)
    fhs: Segment | None = None
    bhs: Segment | None = None
    bts: Segment | None = None
    fts: Segment | None = None
    codec: str = "utf-8"
    findings: list[Finding] = field(default_factory=list)
    final_terminator: bool = True

    def to_text(self) -> str:
        """The batch as text: headers, each message, trailers; segments ended by CR."""
        parts = [seg.render() for seg in (self.fhs, self.bhs) if seg is not None]
        parts += [msg.to_text().removesuffix("\r") for msg in self.messages]
        parts += [seg.render() for seg in (self.bts, self.fts) if seg is not None]
        text = "\r".join(parts)
        return text + "\r" if self.final_terminator else text

    def render(self) -> bytes:
        return self.to_text().encode(self.codec)


def parse_batch(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Batch:
    """Parse a batch file (FHS/BHS/…/BTS/FTS) or a plain file of several messages.

    Each message is parsed with ``limits``; ``max_bytes`` applies to the whole file. A
    message count in BTS-1 that does not match is a finding; one batch per file.
    """
    limits.check_size(len(data))
    decoded = decode_bytes(data)
    lines, final = split_lines(decoded.text)
    batch = Batch(codec=decoded.codec, findings=list(decoded.findings), final_terminator=final)
    current: list[str] = []
    for number, line in enumerate(lines, 1):
        seg_id = line[:3]
        if seg_id in BATCH_SEGMENTS and len(line) > 3 and not line[3].isalnum():
            _close_message(batch, current, limits)
            current = []
            _envelope(batch, seg_id, line, number)
        elif seg_id == "MSH":
            _close_message(batch, current, limits)
            current = [line]
        elif current:
            current.append(line)
        elif line.strip():
            raise ParseError("segment outside a message", code="100", location=f"line {number}")
    _close_message(batch, current, limits)
    _check_count(batch)
    return batch


def _close_message(batch: Batch, lines: list[str], limits: Limits) -> None:
    if not lines:
        return
    if batch.bts is not None or batch.fts is not None:
        raise ParseError("message after the batch trailer", code="100", location="BTS")
    message = parse("\r".join(lines), limits=limits)
    message.codec = batch.codec
    message.final_terminator = False
    batch.messages.append(message)


def _envelope(batch: Batch, seg_id: str, line: str, number: int) -> None:
    if seg_id in ("FHS", "BHS"):
        enc, _ = header_encoding(line, seg_id)
    else:
        enc = batch.messages[-1].encoding if batch.messages else _batch_encoding(batch)
        if not is_segment_line(line, enc.field):
            raise ParseError("bad trailer segment", code="100", location=f"line {number}")
    slot = seg_id.lower()
    if getattr(batch, slot) is not None:
        raise ParseError(
            f"more than one {seg_id}: one batch per file", code="100", location=f"line {number}"
        )
    setattr(batch, slot, Segment.from_line(line, enc))


def _batch_encoding(batch: Batch) -> EncodingChars:
    header = batch.bhs or batch.fhs
    if header is None:
        raise ParseError("batch trailer without a header", code="100", location="BTS")
    return header.enc


def _check_count(batch: Batch) -> None:
    if batch.bhs is not None and batch.bts is None:
        batch.findings.append(Finding(Severity.WARNING, "structure", "batch without BTS", "BTS"))
    if batch.fhs is not None and batch.fts is None:
        batch.findings.append(Finding(Severity.WARNING, "structure", "file without FTS", "FTS"))
    declared = batch.bts.value(1) if batch.bts is not None else None
    if declared is not None and declared.strip() != str(len(batch.messages)):
        batch.findings.append(
            Finding(
                Severity.WARNING,
                "value",
                f"BTS-1 says {declared.strip()} messages, the batch has {len(batch.messages)}",
                "BTS-1",
            )
        )
