"""Rewrite fields of a message's MSH segment and leave every other byte as it came.

For pass-through routing (``hub.passthru``): a message goes on to another system with its
receiving application/facility (MSH-5/6) and control id (MSH-10) made for that system, and
nothing else touched — not the delimiters, not the segment terminators, not the Z-segments,
repetitions or escapes, not the character set. Only the MSH segment is decoded (in the
message's own character set) and re-encoded; the bytes before and after it are copied. A
UTF-16 message (byte order mark) is decoded whole, rewritten in text and encoded again in
the same byte order behind the same mark.
"""

from __future__ import annotations

from collections.abc import Mapping

from hub.errors import MappingError

from .codec import parse
from .encoding import EncodingChars
from .limits import DEFAULT_LIMITS, Limits

__all__ = ["rewrite_header"]

#: what may stand before MSH in a frame a liberal reader accepted: blanks, a UTF-8 BOM
_LEADING = b" \t\r\n\xef\xbb\xbf"
_LEADING_TEXT = " \t\r\n\ufeff"
#: a UTF-16 byte order mark, and the codec of the bytes after it (the BOM is written back)
_UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}


def rewrite_header(
    raw: bytes, values: Mapping[int, str], *, limits: Limits = DEFAULT_LIMITS
) -> bytes:
    """``raw`` with MSH-n set to ``values[n]`` (n ≥ 3). A value is written as an HD/ST
    would be in the message: ``^`` and ``&`` in it stand for the message's own component and
    subcomponent separators. Raises ``ParseError`` when ``raw`` is not a readable message,
    ``MappingError`` when a value cannot be written (a delimiter of the message, a line
    break, a character its character set does not have)."""
    if any(n < 3 for n in values):
        raise ValueError("MSH-1 and MSH-2 are the message's delimiters: never rewritten")
    message = parse(raw, limits=limits)  # readable, and its character set and delimiters
    enc, codec = message.encoding, message.codec
    bom = raw[:2]
    if bom in _UTF16_BOMS:  # a wide encoding: MSH is found and rewritten in the text
        wire = _UTF16_BOMS[bom]
        try:
            text = raw[2:].decode(wire)
        except UnicodeDecodeError as exc:
            raise MappingError(f"the message cannot be read as {wire}", location="MSH") from exc
        out = bom + _rewritten(text, values, enc, wire, leading=_LEADING_TEXT).encode(wire)
    else:  # one byte per delimiter: only the MSH line is decoded, every other byte copied
        start = raw.find(b"MSH")
        if start < 0 or raw[:start].strip(_LEADING):
            raise MappingError("the message does not start with MSH", location="MSH")
        ends = [i for i in (raw.find(b"\r", start), raw.find(b"\n", start)) if i >= 0]
        end = min(ends) if ends else len(raw)
        try:
            text = raw[start:end].decode(codec)
        except UnicodeDecodeError as exc:  # parse() read it, so this is unexpected
            raise MappingError(f"MSH cannot be read as {codec}", location="MSH") from exc
        out = raw[:start] + _rewritten(text, values, enc, codec).encode(codec) + raw[end:]
    parse(out, limits=limits)  # still one readable message (ParseError if not: a bug here)
    return out


def _rewritten(
    text: str, values: Mapping[int, str], enc: EncodingChars, codec: str, *, leading: str = ""
) -> str:
    """``text`` (the MSH line, or with ``leading`` set the whole message) with its MSH
    fields set; ``MappingError`` when a value cannot be carried in ``codec``."""
    start = text.find("MSH")
    if start < 0 or text[:start].strip(leading):
        raise MappingError("the message does not start with MSH", location="MSH")
    ends = [i for i in (text.find("\r", start), text.find("\n", start)) if i >= 0]
    end = min(ends) if ends else len(text)
    # MSH|^~\&|MSH-3|…: after splitting on MSH-1, item k is MSH-(k+1) for k ≥ 1
    fields = text[start:end].split(enc.field)
    for number, value in sorted(values.items()):
        while len(fields) < number:
            fields.append("")
        fields[number - 1] = _written(value, number, enc)
    header = enc.field.join(fields)
    try:
        header.encode(codec)
    except UnicodeEncodeError as exc:
        raise MappingError(
            f"a rewritten MSH field cannot be carried in {codec}", location="MSH"
        ) from exc
    return text[:start] + header + text[end:]


def _written(value: str, number: int, enc: EncodingChars) -> str:
    """``value`` as MSH-``number`` text: ``^``/``&`` become the message's separators."""
    bad = [c for c in (enc.field, enc.repetition, enc.escape, "\r", "\n") if c and c in value]
    if bad:
        raise MappingError(
            f"MSH-{number}: the value holds a delimiter of the message ({bad[0]!r})",
            location=f"MSH-{number}",
        )
    component = enc.component or "^"
    subcomponent = enc.subcomponent or "&"
    return value.translate({ord("^"): component, ord("&"): subcomponent})
