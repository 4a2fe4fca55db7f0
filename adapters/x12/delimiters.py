"""Separators of an X12 interchange, read from its ISA segment.

The ISA is a fixed-width segment of 106 characters (X12.5 interchange control structure):
``ISA`` + 16 elements of fixed width, each preceded by the data element separator; the
element separator is character 4 (index 3), the component element separator is ISA16
(index 104) and the segment terminator is the character right after ISA16 (index 105).
In 005010 (and from 004020 on) ISA11 is the repetition separator; before that ISA11 is the
Interchange Control Standards Identifier ``U`` and there is no repetition separator.

Nothing is assumed: every separator comes from the ISA. Real files break the fixed width
(a 12-character sender id, a 16-character receiver id), so when the fixed positions do not
hold separators we fall back to counting separators — and remember that we had to.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ISA_ELEMENT_WIDTHS",
    "ISA_LENGTH",
    "Delimiters",
    "IsaHeader",
    "isa_separator_offsets",
    "read_isa",
]

#: ISA01..ISA16 widths, X12.5 (identical in 004010 and 005010)
ISA_ELEMENT_WIDTHS: tuple[int, ...] = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
#: the ISA segment with its terminator
ISA_LENGTH = 106
#: how far past "ISA" a non-fixed-width header may run before we stop believing it is one
ISA_SCAN_LIMIT = 400
#: characters that can never be a separator (X12.6: separators must not occur in data)
_NOT_A_SEPARATOR = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz \r\n")


def isa_separator_offsets() -> tuple[int, ...]:
    """Offsets (from the ``I`` of ``ISA``) of the 16 element separators in a fixed-width ISA."""
    offsets = []
    pos = 3
    for width in ISA_ELEMENT_WIDTHS:
        offsets.append(pos)
        pos += 1 + width
    return tuple(offsets)


_FIXED_OFFSETS = isa_separator_offsets()


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The four separators of one interchange (ISA byte 4, ISA11, ISA16, char after ISA16)."""

    element: str = "*"
    component: str = ":"
    repetition: str | None = "^"
    segment: str = "~"

    def as_tuple(self) -> tuple[str, str, str | None, str]:
        return (self.element, self.component, self.repetition, self.segment)


@dataclass(frozen=True, slots=True)
class IsaHeader:
    """An ISA segment as found: its text (without terminator), separators and width."""

    raw: str
    delimiters: Delimiters
    #: True when the ISA had its 106-character fixed layout
    fixed_width: bool


def read_isa(text: str, start: int, at_eof: bool) -> IsaHeader | bool | None:
    """Read the ISA that starts at ``text[start]`` (``text[start:start+3] == "ISA"``).

    Returns the header, ``None`` when this cannot be an ISA, or ``False`` when more text is
    needed to decide (only when ``at_eof`` is false).
    """
    sep = text[start + 3] if len(text) > start + 3 else ""
    if not sep:
        return None if at_eof else False
    if sep in _NOT_A_SEPARATOR:
        return None
    if len(text) < start + ISA_LENGTH and not at_eof:
        return False
    if _is_fixed_width(text, start, sep):
        return _header(text, start, start + 104, fixed=True)
    return _read_tolerant(text, start, sep, at_eof)


def _is_fixed_width(text: str, start: int, sep: str) -> bool:
    """True when every ISA element separator sits at its X12.5 fixed offset."""
    if len(text) < start + ISA_LENGTH:
        return False
    if any(text[start + off] != sep for off in _FIXED_OFFSETS):
        return False
    # ISA16 and the terminator must not be the element separator themselves
    return text[start + 104] != sep and text[start + 105] != sep


def _read_tolerant(text: str, start: int, sep: str, at_eof: bool) -> IsaHeader | bool | None:
    """Count 16 separators; ISA16 is the next character and the terminator the one after."""
    pos = start + 3
    limit = min(len(text), start + ISA_SCAN_LIMIT)
    for _ in range(16):
        pos = text.find(sep, pos, limit)
        if pos < 0:
            if not at_eof and len(text) < start + ISA_SCAN_LIMIT:
                return False
            return None
        pos += 1
    # pos is now the index of ISA16; the terminator follows it
    if pos + 1 >= len(text):
        return None if at_eof else False
    return _header(text, start, pos, fixed=False)


def _header(text: str, start: int, isa16_at: int, *, fixed: bool) -> IsaHeader:
    element = text[start + 3]
    component = text[isa16_at]
    terminator = text[isa16_at + 1]
    raw = text[start : isa16_at + 1]
    fields = raw.split(element)
    isa11 = fields[11] if len(fields) > 11 else ""
    isa12 = fields[12] if len(fields) > 12 else ""
    return IsaHeader(
        raw=raw,
        delimiters=Delimiters(
            element,
            component,
            _repetition(isa11, isa12, element, component, terminator),
            terminator,
        ),
        fixed_width=fixed,
    )


def _repetition(isa11: str, isa12: str, element: str, component: str, term: str) -> str | None:
    """ISA11 is the repetition separator from version 00402 on; before, it is ``U``."""
    if len(isa11) != 1 or isa11 in _NOT_A_SEPARATOR or isa12 < "00402":
        return None
    if isa11 in (element, component, term):
        return None
    return isa11
