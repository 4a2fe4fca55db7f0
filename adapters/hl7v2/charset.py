"""Character sets: MSH-18 (HL7 table 0211) to Python codecs, and decoding wire bytes.

HL7 says a message without MSH-18 is ASCII. Senders disagree, so decoding is liberal: ASCII,
then UTF-8, then latin-1 (which never fails), each fallback leaving a finding behind.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from hub.findings import Finding, Severity

__all__ = ["Decoded", "codec_for_charset", "decode_bytes", "read_msh18"]

#: HL7 table 0211 (v2.5–2.8) → Python codec name
_TABLE_0211 = {
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "latin-1",
    "ISO IR100": "latin-1",
    "8859/2": "iso8859-2",
    "ISO IR101": "iso8859-2",
    "8859/3": "iso8859-3",
    "ISO IR109": "iso8859-3",
    "8859/4": "iso8859-4",
    "ISO IR110": "iso8859-4",
    "8859/5": "iso8859-5",
    "ISO IR144": "iso8859-5",
    "8859/6": "iso8859-6",
    "ISO IR127": "iso8859-6",
    "8859/7": "iso8859-7",
    "ISO IR126": "iso8859-7",
    "8859/8": "iso8859-8",
    "ISO IR138": "iso8859-8",
    "8859/9": "iso8859-9",
    "ISO IR148": "iso8859-9",
    "8859/15": "iso8859-15",
    "ISO IR14": "shift_jis",
    "ISO IR87": "iso2022_jp",
    "ISO IR159": "iso2022_jp_2",
    "UNICODE": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
    "GB 18030-2000": "gb18030",
    "KS X 1001": "euc_kr",
    "BIG-5": "big5",
}
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


#: Python codecs that are plain character sets; others in the registry (``unicode_escape``,
#: ``undefined``, ``idna``, …) would reinterpret the text or refuse it
_PLAIN_CODEC = re.compile(
    r"^(ascii|latin[-_]?1|utf[-_]?8|iso8859.*|cp\d+|euc.*|gb.*|big5.*|shift_jis.*|iso2022.*"
    r"|koi8.*|mac.*)$"
)


def codec_for_charset(name: str) -> str | None:
    """The Python codec for an MSH-18 value; common non-table spellings (``UTF-8``,
    ``ISO-8859-1``) are accepted through Python's own codec registry."""
    key = name.strip().upper()
    if key in _TABLE_0211:
        return _TABLE_0211[key]
    try:
        codec = codecs.lookup(key).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    return codec if _PLAIN_CODEC.match(codec) else None


def read_msh18(data: bytes) -> str | None:
    """MSH-18 (first repetition) read straight from the bytes of the MSH segment, before the
    message is decoded. None when absent or unreadable."""
    start = data.find(b"MSH")
    if start < 0 or start + 8 > len(data):
        return None
    end = len(data)
    for term in (b"\r", b"\n"):
        pos = data.find(term, start)
        if 0 <= pos < end:
            end = pos
    line = data[start:end].decode("latin-1")
    if len(line) < 4:
        return None
    sep = line[3]
    parts = line.split(sep)
    if len(parts) < 18 or not parts[17]:
        return None
    rep = parts[1][1:2]
    value = parts[17].split(rep, 1)[0] if rep and rep != sep else parts[17]
    return value.strip() or None


@dataclass(slots=True)
class Decoded:
    text: str
    #: the codec the text was decoded with; rendering encodes with it again
    codec: str
    findings: list[Finding] = field(default_factory=list)


def decode_bytes(data: bytes) -> Decoded:
    """Decode wire bytes by MSH-18, dropping a UTF-8 BOM (a UTF-16 BOM selects UTF-16)."""
    if data.startswith(_UTF8_BOM):
        data = data[3:]
    elif data.startswith(_UTF16_BOMS):
        return Decoded(data.decode("utf-16", errors="replace"), "utf-16")
    charset = read_msh18(data)
    if charset is None:
        return _decode_default(data)
    codec = codec_for_charset(charset)
    if codec in ("utf-16", "utf-32"):
        # MSH-18 was readable as single bytes, so the message is not in a wide encoding
        codec = None
    if codec is None:
        out = _decode_default(data)
        out.findings.insert(0, _finding(Severity.WARNING, f"unknown character set {charset!r}"))
        return out
    try:
        return Decoded(data.decode(codec), codec)
    except (ValueError, LookupError):  # UnicodeDecodeError is a ValueError
        out = _decode_default(data)
        out.findings.insert(
            0, _finding(Severity.WARNING, f"bytes are not valid {charset}; decoded as {out.codec}")
        )
        return out


def _decode_default(data: bytes) -> Decoded:
    if data.isascii():
        # ASCII is a subset of UTF-8: render as UTF-8 so a value set later can be carried
        return Decoded(data.decode("ascii"), "utf-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Decoded(
            data.decode("latin-1"),
            "latin-1",
            [
                _finding(
                    Severity.WARNING, "non-ASCII bytes without MSH-18, not UTF-8: read as latin-1"
                )
            ],
        )
    return Decoded(
        text,
        "utf-8",
        [_finding(Severity.INFORMATION, "non-ASCII bytes without MSH-18: read as UTF-8")],
    )


def _finding(severity: Severity, text: str) -> Finding:
    return Finding(severity, "value", text, "MSH-18")
