"""Build outbound interchanges: ISA/GS/ST … SE/GE/IEA with counts and control numbers.

Control numbers come from an injected allocator ``next_control(kind) -> int`` with ``kind``
in ``"ISA13"``, ``"GS06"``, ``"ST02"`` (the store persists them; tests pass a counter). The
ISA is written in its X12.5 fixed width (ISA02/04 padded to 10, ISA06/08 to 15), the
separators are the caller's choice, and SE01/GE01/IEA01 are counted, never typed::

    b = InterchangeBuilder(("ZZ", "CAREHUB"), ("ZZ", "PAYER"), next_control)
    ts = b.group("HC", "005010X222A1", "CAREHUB", "PAYER").transaction("837", "005010X222A1")
    ts.add("BHT", "0019", "00", "0123", "20240102", "1200", "CH")
    data = b.render()          # bytes; b.build() gives the native Interchange

A value containing one of the interchange's separators cannot be carried and raises
``MappingError`` naming the element — sanitising is the mapping's decision, not ours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from adapters.x12.delimiters import Delimiters
from adapters.x12.model import FunctionalGroup, Interchange, TransactionSet
from adapters.x12.segment import ElementValue, Segment
from hub.errors import MappingError

__all__ = [
    "ControlAllocator",
    "GroupBuilder",
    "InterchangeBuilder",
    "TransactionBuilder",
    "counter_allocator",
]

#: ``next_control("ISA13" | "GS06" | "ST02") -> int``
ControlAllocator = Callable[[str], int]


def counter_allocator(start: int = 1) -> ControlAllocator:
    """A per-kind in-memory counter — for tests and one-off tools, not for production."""
    counters: dict[str, int] = {}

    def next_control(kind: str) -> int:
        counters[kind] = counters.get(kind, start - 1) + 1
        return counters[kind]

    return next_control


@dataclass(slots=True)
class TransactionBuilder:
    """ST … SE: add body segments; ST/SE and their numbers are written at build time."""

    ts_id: str
    convention: str | None
    delimiters: Delimiters
    line_break: str
    body: list[Segment] = field(default_factory=list)

    def add(self, segment_id: str, *elements: ElementValue) -> Segment:
        """Append a segment; a sequence value is a composite."""
        seg = _segment(segment_id, elements, self.delimiters, self.line_break)
        self.body.append(seg)
        return seg

    def extend(self, segments: Sequence[Segment]) -> None:
        """Append segments read elsewhere, re-rendered with this interchange's separators."""
        for seg in segments:
            self.add(seg.id, *(_components(v, seg.delimiters) for v in seg.elements[1:]))

    def build(self, st02: str) -> TransactionSet:
        d, br = self.delimiters, self.line_break
        st_elements = [self.ts_id, st02] + ([self.convention] if self.convention else [])
        st = _segment("ST", st_elements, d, br)
        se = _segment("SE", [str(len(self.body) + 2), st02], d, br)
        return TransactionSet(segments=[st, *self.body, se], se=se)


@dataclass(slots=True)
class GroupBuilder:
    """GS … GE around transaction sets of one functional identifier."""

    functional_id: str
    version: str
    app_sender: str
    app_receiver: str
    delimiters: Delimiters
    line_break: str
    transactions: list[TransactionBuilder] = field(default_factory=list)

    def transaction(self, ts_id: str, convention: str | None = None) -> TransactionBuilder:
        tb = TransactionBuilder(ts_id, convention, self.delimiters, self.line_break)
        self.transactions.append(tb)
        return tb

    def build(self, gs06: int, when: datetime, next_control: ControlAllocator) -> FunctionalGroup:
        d, br = self.delimiters, self.line_break
        gs = _segment(
            "GS",
            [
                self.functional_id,
                self.app_sender,
                self.app_receiver,
                when.strftime("%Y%m%d"),
                when.strftime("%H%M"),
                str(gs06),
                "X",
                self.version,
            ],
            d,
            br,
        )
        group = FunctionalGroup(gs=gs)
        for i, tb in enumerate(self.transactions):
            ts = tb.build(f"{next_control('ST02'):04d}")
            ts.gs, ts.index = gs, i
            group.parts.append(ts)
        group.ge = _segment("GE", [str(len(self.transactions)), str(gs06)], d, br)
        return group


class InterchangeBuilder:
    """ISA … IEA. ``sender``/``receiver`` are (ISA05/07 qualifier, ISA06/08 id)."""

    def __init__(
        self,
        sender: tuple[str, str],
        receiver: tuple[str, str],
        next_control: ControlAllocator,
        *,
        version: str = "00501",
        delimiters: Delimiters | None = None,
        usage: str = "P",
        ack_requested: bool = False,
        when: datetime | None = None,
        line_break: str = "",
        authorization: tuple[str, str] = ("00", ""),
        security: tuple[str, str] = ("00", ""),
    ) -> None:
        self.sender, self.receiver = sender, receiver
        self.next_control = next_control
        self.version = version
        self.delimiters = delimiters or Delimiters(
            "*", ":", "^" if version >= "00402" else None, "~"
        )
        self.usage, self.ack_requested = usage, ack_requested
        self.when = when
        self.line_break = line_break
        self.authorization, self.security = authorization, security
        self.groups: list[GroupBuilder] = []
        self.loose: list[Segment] = []
        _check_delimiters(self.delimiters)

    def group(
        self, functional_id: str, version: str, app_sender: str, app_receiver: str
    ) -> GroupBuilder:
        gb = GroupBuilder(
            functional_id, version, app_sender, app_receiver, self.delimiters, self.line_break
        )
        self.groups.append(gb)
        return gb

    def add(self, segment_id: str, *elements: ElementValue) -> Segment:
        """A segment directly in the interchange, outside groups (a TA1)."""
        seg = _segment(segment_id, elements, self.delimiters, self.line_break)
        self.loose.append(seg)
        return seg

    def build(self) -> Interchange:
        """Allocate control numbers (ISA13, then GS06/ST02 in order) and assemble."""
        when = self.when or datetime.now()
        isa13 = f"{self.next_control('ISA13'):09d}"
        isa = Segment(self._isa_text(isa13, when), self.delimiters, after=self.line_break)
        ic = Interchange(isa=isa, parts=list(self.loose))
        for i, gb in enumerate(self.groups):
            group = gb.build(self.next_control("GS06"), when, self.next_control)
            group.index = i
            for ts in group.transaction_sets:
                ts.isa, ts.group_index = isa, i
            ic.parts.append(group)
        ic.iea = _segment("IEA", [str(len(self.groups)), isa13], self.delimiters, self.line_break)
        return ic

    def render(self) -> bytes:
        return self.build().render().encode("latin-1")

    def _isa_text(self, isa13: str, when: datetime) -> str:
        d = self.delimiters
        isa11 = d.repetition if self.version >= "00402" and d.repetition else "U"
        fields = [
            _fixed(self.authorization[0], 2, "ISA01"),
            _fixed(self.authorization[1], 10, "ISA02"),
            _fixed(self.security[0], 2, "ISA03"),
            _fixed(self.security[1], 10, "ISA04"),
            _fixed(self.sender[0], 2, "ISA05"),
            _fixed(self.sender[1], 15, "ISA06"),
            _fixed(self.receiver[0], 2, "ISA07"),
            _fixed(self.receiver[1], 15, "ISA08"),
            when.strftime("%y%m%d"),
            when.strftime("%H%M"),
            isa11,
            _fixed(self.version, 5, "ISA12"),
            isa13,
            "1" if self.ack_requested else "0",
            _fixed(self.usage, 1, "ISA15"),
            d.component,
        ]
        for i, value in enumerate(fields[:-1], 1):
            if i != 11:  # ISA11 is the repetition separator itself in 00402 and later
                _check_value(value, d, f"ISA{i:02d}")
        return d.element.join(["ISA", *fields])


def _fixed(value: str, width: int, ref: str) -> str:
    """Left-justify and pad to the X12.5 fixed width; longer values cannot be carried."""
    if len(value) > width:
        raise MappingError(f"{ref} is longer than its fixed width {width}", location=ref)
    return value.ljust(width)


def _segment(
    segment_id: str, elements: Sequence[ElementValue], d: Delimiters, line_break: str
) -> Segment:
    for i, value in enumerate(elements, 1):
        parts = [value] if isinstance(value, str) else list(value)
        for part in parts:
            _check_value(part, d, f"{segment_id}{i:02d}")
    return Segment.build(segment_id, *elements, delimiters=d, after=line_break)


def _check_value(value: str, d: Delimiters, ref: str) -> None:
    seps = {d.element, d.component, d.segment} | ({d.repetition} if d.repetition else set())
    if any(ch in seps for ch in value):
        raise MappingError(f"{ref} contains a separator of this interchange", location=ref)
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise MappingError(f"{ref} has characters outside ISO-8859-1", location=ref) from exc


def _check_delimiters(d: Delimiters) -> None:
    chosen = [d.element, d.component, d.segment] + ([d.repetition] if d.repetition else [])
    if len(set(chosen)) != len(chosen) or any(len(c) != 1 or c.isalnum() for c in chosen):
        raise ValueError("separators must be distinct single non-alphanumeric characters")


def _components(value: str, d: Delimiters) -> ElementValue:
    return value.split(d.component) if d.component in value else value
