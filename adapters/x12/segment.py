"""One X12 segment, kept as the exact text it was read from.

Elements, components and repetitions are split on demand, so a segment that nobody looks
at costs one string. Element references use the guides' names: ``seg["CLM01"]`` (element),
``seg["CLM05-1"]`` or ``seg["SV101-02"]`` (component), ``seg.element(1)`` (by position).
An element that is not present reads as ``""`` — X12 makes no difference between an
omitted element and an empty one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from adapters.x12.delimiters import Delimiters

__all__ = ["Segment", "parse_ref"]

ElementValue = str | Sequence[str]


def parse_ref(segment_id: str, ref: str) -> tuple[int, int | None]:
    """``"CLM05-1"`` for segment ``CLM`` → ``(5, 1)``; ``"NM109"`` → ``(9, None)``.

    Raises ``KeyError`` when the reference does not name an element of ``segment_id``.
    """
    if not ref.startswith(segment_id):
        raise KeyError(ref)
    rest = ref[len(segment_id) :]
    element, _, component = rest.partition("-")
    if len(element) != 2 or not element.isdigit():
        raise KeyError(ref)
    if not component:
        return int(element), None
    if not component.isdigit() or int(component) < 1:
        raise KeyError(ref)
    return int(element), int(component)


class Segment:
    """An X12 segment: its text (``raw``, without terminator), id and separators.

    ``terminated`` is false only for a last segment cut off at end of file; ``after`` holds
    the line breaks (CR/LF) that followed the terminator, so the file renders back exactly.
    """

    __slots__ = ("_elements", "after", "delimiters", "id", "raw", "terminated")

    def __init__(
        self, raw: str, delimiters: Delimiters, terminated: bool = True, after: str = ""
    ) -> None:
        self.raw = raw
        self.delimiters = delimiters
        self.terminated = terminated
        self.after = after
        cut = raw.find(delimiters.element)
        # interned: a large file has a few dozen distinct ids and a million segments
        self.id = sys.intern(raw if cut < 0 else raw[:cut])
        self._elements: list[str] | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls, segment_id: str, *elements: ElementValue, delimiters: Delimiters, after: str = ""
    ) -> Segment:
        """A segment from values; a sequence value is a composite (joined by ISA16).

        Trailing empty elements are dropped, as X12.6 requires.
        """
        values = [v if isinstance(v, str) else _join_composite(v, delimiters) for v in elements]
        while values and values[-1] == "":
            values.pop()
        return cls(delimiters.element.join([segment_id, *values]), delimiters, after=after)

    # ------------------------------------------------------------------ reading

    @property
    def elements(self) -> list[str]:
        """``[id, element1, element2, …]`` — index = the element's position."""
        if self._elements is None:
            self._elements = self.raw.split(self.delimiters.element)
        return self._elements

    def release(self) -> None:
        """Drop the split elements (they are split again when asked for)."""
        self._elements = None

    def __len__(self) -> int:
        """Number of elements present (not counting the id)."""
        return len(self.elements) - 1

    def element(self, position: int) -> str:
        """Element ``position`` (1-based) or ``""`` when absent."""
        els = self.elements
        return els[position] if 0 < position < len(els) else ""

    def components(self, position: int) -> list[str]:
        """The components of element ``position`` (one item for a simple element)."""
        return self.element(position).split(self.delimiters.component)

    def component(self, position: int, sub: int) -> str:
        parts = self.components(position)
        return parts[sub - 1] if 0 < sub <= len(parts) else ""

    def repetitions(self, position: int) -> list[str]:
        """The repeats of element ``position``; one item when the interchange has no ISA11."""
        value = self.element(position)
        rep = self.delimiters.repetition
        return value.split(rep) if rep else [value]

    def __getitem__(self, ref: str) -> str:
        element, component = parse_ref(self.id, ref)
        if component is None:
            return self.element(element)
        return self.component(element, component)

    def get(self, ref: str, default: str = "") -> str:
        value = self[ref]
        return value if value else default

    # ------------------------------------------------------------------ writing

    def render(self) -> str:
        """The segment exactly as read: text, terminator (if it had one), line breaks."""
        if self.terminated:
            return self.raw + self.delimiters.segment + self.after
        return self.raw + self.after

    def __repr__(self) -> str:
        # no element values: segments carry PHI and reprs end up in logs
        return f"<Segment {self.id} ({len(self)} elements)>"


def _join_composite(values: Sequence[str], delimiters: Delimiters) -> str:
    parts = list(values)
    while parts and parts[-1] == "":
        parts.pop()
    return delimiters.component.join(parts)
