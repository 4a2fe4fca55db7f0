"""HL7 v2 encoding characters (MSH-1, MSH-2) and escape sequences (v2.x chapter 2.7).

The delimiters are read from each message, never assumed. Escape sequences are decoded only
when a value is read and encoded only when a value is set; the raw text stays as received so
an unknown escape survives a round trip byte for byte and can be reported as a finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hub.errors import ParseError

__all__ = [
    "DEFAULT_ENCODING",
    "EncodingChars",
    "escape",
    "find_unknown_escapes",
    "unescape",
]

#: escape names that stand for a delimiter, by the attribute of ``EncodingChars`` they mean
_DELIMITER_ESCAPES = {
    "F": "field",
    "S": "component",
    "T": "subcomponent",
    "R": "repetition",
    "E": "escape",
    "P": "truncation",
}
#: formatting commands (chapter 2.7.6) that have no text of their own once read
_SILENT_FORMATTING = {"H", "N", ".fi", ".nf", ".ce"}
_FORBIDDEN_DELIMITERS = frozenset("\r\n \t")


@dataclass(frozen=True, slots=True)
class EncodingChars:
    """MSH-1 (field separator) and MSH-2 (component, repetition, escape, subcomponent and,
    from v2.7, truncation characters). An empty string means "not in use"."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @property
    def msh2(self) -> str:
        """The MSH-2 text these characters render as."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation

    @classmethod
    def from_header(
        cls, field_sep: str, msh2: str, seg_id: str = "MSH"
    ) -> tuple[EncodingChars, list[str]]:
        """Read MSH-1/MSH-2 (or FHS-1/FHS-2, BHS-1/BHS-2); returns the characters and warnings.

        Raises ``ParseError`` when MSH-1 is not a usable single character or MSH-2 is missing,
        too long, or holds a letter, digit, blank or the field separator. A character used for
        two roles is tolerated (kept for the first role only) with a warning.
        """
        _check_separator(field_sep, seg_id)
        if not msh2:
            raise ParseError("encoding characters missing", code="102", location=f"{seg_id}-2")
        if len(msh2) > 5:
            raise ParseError("more than 5 encoding characters", code="102", location=f"{seg_id}-2")
        for ch in msh2:
            if ch == field_sep or ch.isalnum() or ch in _FORBIDDEN_DELIMITERS:
                raise ParseError("invalid encoding character", code="102", location=f"{seg_id}-2")
        return _assign_roles(field_sep, msh2, seg_id)


def _check_separator(field_sep: str, seg_id: str) -> None:
    if len(field_sep) != 1 or field_sep.isalnum() or field_sep in _FORBIDDEN_DELIMITERS:
        raise ParseError(
            "field separator is not a single delimiter character",
            code="102",
            location=f"{seg_id}-1",
        )


def _assign_roles(field_sep: str, msh2: str, seg_id: str) -> tuple[EncodingChars, list[str]]:
    roles: list[str] = []
    warnings: list[str] = []
    for ch in msh2:
        if ch in roles:
            # seen in the wild (``^~\\&``): keep the first role, leave the later one unused
            warnings.append(f"{seg_id}-2 uses one character for two roles")
            roles.append("")
        else:
            roles.append(ch)
    roles += [""] * (5 - len(roles))
    enc = EncodingChars(field_sep, roles[0], roles[1], roles[2], roles[3], roles[4])
    return enc, warnings


DEFAULT_ENCODING = EncodingChars()


def _tokens(value: str, esc: str) -> Iterator[tuple[bool, str]]:
    """Split ``value`` into (is_escape, text) pieces; an escape piece is the name between the
    escape characters. An unterminated escape is literal text."""
    pos = 0
    n = len(value)
    while pos < n:
        start = value.find(esc, pos)
        if start < 0:
            yield False, value[pos:]
            return
        end = value.find(esc, start + 1)
        if end < 0:
            yield False, value[pos:]
            return
        if start > pos:
            yield False, value[pos:start]
        yield True, value[start + 1 : end]
        pos = end + 1


def _decode_escape(name: str, enc: EncodingChars) -> str | None:
    """The text an escape stands for, or None when it is unknown (kept literally)."""
    role = _DELIMITER_ESCAPES.get(name)
    if role is not None:
        ch: str = getattr(enc, role)
        return ch or None
    if name in _SILENT_FORMATTING or name.startswith((".in", ".ti", ".sk")):
        return ""
    if name == ".br":
        return "\n"
    if name.startswith(".sp"):
        count = name[3:].strip()
        return "\n" * (int(count) if count.isdigit() else 1)
    if name[:1] == "X" and len(name) > 1:
        return _decode_hex(name[1:])
    return None


def _decode_hex(digits: str) -> str | None:
    """``\\Xhhhh\\``: bytes in hexadecimal, read as UTF-8 when they are, else latin-1."""
    if len(digits) % 2:
        return None
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _is_kept(name: str) -> bool:
    """Character-set escapes ``\\Cxxyy\\`` and ``\\Mxxyyzz\\`` are known but kept literally."""
    return (name[:1] == "C" and len(name) == 5) or (name[:1] == "M" and len(name) in (5, 7))


def unescape(value: str, enc: EncodingChars) -> str:
    """Decode the escape sequences in a primitive value (chapter 2.7).

    ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\P\\`` become delimiters, ``\\Xhh..\\`` the bytes,
    ``\\.br\\`` a line feed, ``\\H\\``/``\\N\\`` nothing; ``\\Cxxyy\\``/``\\Mxxyyzz\\`` and
    unknown escapes stay as they are.
    """
    esc = enc.escape
    if not esc or esc not in value:
        return value
    out: list[str] = []
    for is_escape, text in _tokens(value, esc):
        if not is_escape:
            out.append(text)
            continue
        decoded = None if _is_kept(text) else _decode_escape(text, enc)
        out.append(esc + text + esc if decoded is None else decoded)
    return "".join(out)


def find_unknown_escapes(value: str, enc: EncodingChars) -> list[str]:
    """Escape sequences in ``value`` that ``unescape`` keeps literally because it does not know
    them (including an unterminated one), as they appear in the text."""
    esc = enc.escape
    if not esc or esc not in value:
        return []
    found: list[str] = []
    for is_escape, text in _tokens(value, esc):
        if is_escape and not _is_kept(text) and _decode_escape(text, enc) is None:
            found.append(esc + text + esc)
        elif not is_escape and esc in text:
            found.append(text[text.index(esc) :])
    return found


def escape(value: str, enc: EncodingChars) -> str:
    """Encode delimiters in ``value`` as escape sequences (chapter 2.7) so it can be set as a
    primitive value; line breaks become ``\\.br\\``."""
    esc = enc.escape
    if not esc:
        return value
    named = (
        (esc, "E"),
        (enc.field, "F"),
        (enc.component, "S"),
        (enc.subcomponent, "T"),
        (enc.repetition, "R"),
        (enc.truncation, "P"),
    )
    swaps = [(ch, name) for ch, name in named if ch]
    if not any(ch in value for ch, _ in swaps) and "\r" not in value and "\n" not in value:
        return value
    out = []
    table = {ch: f"{esc}{name}{esc}" for ch, name in swaps}
    # ``\.br\`` would be cut apart where "." is itself a delimiter; ``\X0A\`` reads the same
    line_break = f"{esc}X0A{esc}" if any(ch == "." for ch, _ in swaps) else f"{esc}.br{esc}"
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    for ch in text:
        if ch == "\n":
            out.append(line_break)
        else:
            out.append(table.get(ch, ch))
    return "".join(out)
