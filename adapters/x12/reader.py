"""Event-based X12 reader: one transaction set at a time, with its envelope context.

``iter_events`` turns the lexer's tokens into envelope events and whole transaction sets;
memory is bounded by the largest transaction set, not the file. ``iter_transaction_sets``
keeps only the sets; ``iter_interchanges`` assembles whole interchanges (for files whose
interchanges fit in memory — everything the round trip needs is kept).

Envelope structure (X12.5/X12.6): ISA [GS [ST … SE]… GE]… IEA. A missing trailer is
closed implicitly by what comes next (a new ST closes a set without SE, a GS or IEA closes
a group without GE, a new ISA or end of input closes an interchange without IEA) and shows
as ``None`` in the model.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from adapters.x12.lexer import DEFAULT_CHUNK, EndToken, IsaToken, Lexer
from adapters.x12.model import FunctionalGroup, Interchange, TransactionSet
from adapters.x12.segment import Segment

__all__ = [
    "Event",
    "GroupClosed",
    "GroupOpened",
    "InterchangeClosed",
    "InterchangeOpened",
    "StraySegment",
    "iter_events",
    "iter_interchanges",
    "iter_transaction_sets",
]


@dataclass(slots=True)
class InterchangeOpened:
    isa: Segment
    leading: str
    fixed_width: bool
    index: int


@dataclass(slots=True)
class GroupOpened:
    gs: Segment
    interchange_index: int
    index: int


@dataclass(slots=True)
class GroupClosed:
    gs: Segment
    ge: Segment | None
    transaction_count: int
    index: int


@dataclass(slots=True)
class InterchangeClosed:
    isa: Segment
    iea: Segment | None
    group_count: int
    trailing: str
    index: int


@dataclass(slots=True)
class StraySegment:
    """A segment outside any transaction set; ``in_group`` tells whether inside a GS."""

    segment: Segment
    in_group: bool


Event = (
    InterchangeOpened
    | GroupOpened
    | TransactionSet
    | StraySegment
    | GroupClosed
    | InterchangeClosed
)


class _Envelope:
    """The state machine of one file: which interchange, group and set are open."""

    def __init__(self) -> None:
        self.isa: Segment | None = None
        self.iea: Segment | None = None
        self.gs: Segment | None = None
        self.ts: TransactionSet | None = None
        self.interchanges = 0
        self.groups = 0
        self.sets = 0

    def open_interchange(self, tok: IsaToken) -> InterchangeOpened:
        self.isa, self.iea, self.groups = tok.segment, None, 0
        self.interchanges += 1
        return InterchangeOpened(
            tok.segment, tok.leading, tok.header.fixed_width, self.interchanges - 1
        )

    def close_interchange(self, trailing: str) -> Iterator[Event]:
        if self.isa is None:
            return
        yield from self.close_group(None)
        yield InterchangeClosed(self.isa, self.iea, self.groups, trailing, self.interchanges - 1)
        self.isa = None

    def close_set(self) -> Iterator[Event]:
        if self.ts is not None:
            yield self.ts
            self.ts = None

    def close_group(self, ge: Segment | None) -> Iterator[Event]:
        yield from self.close_set()
        if self.gs is not None:
            yield GroupClosed(self.gs, ge, self.sets, self.groups - 1)
            self.gs = None

    def segment(self, seg: Segment) -> Iterator[Event]:
        sid = seg.id
        if sid == "ST":
            yield from self.close_set()
            self._open_set(seg)
        elif sid == "SE" and self.ts is not None:
            self.ts.segments.append(seg)
            self.ts.se = seg
            yield from self.close_set()
        elif self.ts is not None and sid not in ("GS", "GE", "IEA"):
            self.ts.segments.append(seg)
        elif sid == "GS":
            yield from self.close_group(None)
            self.gs, self.sets = seg, 0
            self.groups += 1
            yield GroupOpened(seg, self.interchanges - 1, self.groups - 1)
        elif sid == "GE" and self.gs is not None:
            yield from self.close_group(seg)
        elif sid == "IEA":
            yield from self.close_group(None)
            self.iea = seg
        else:
            yield from self.close_set()
            yield StraySegment(seg, self.gs is not None)

    def _open_set(self, st: Segment) -> None:
        self.sets += 1
        self.ts = TransactionSet(
            segments=[st],
            isa=self.isa,
            gs=self.gs,
            interchange_index=self.interchanges - 1,
            group_index=max(self.groups - 1, 0),
            index=self.sets - 1,
        )


def iter_events(stream: BinaryIO, chunk_size: int = DEFAULT_CHUNK) -> Iterator[Event]:
    """Envelope events and whole transaction sets, in file order, streaming."""
    env = _Envelope()
    for tok in Lexer(stream, chunk_size):
        if isinstance(tok, IsaToken):
            yield from env.close_interchange("")
            yield env.open_interchange(tok)
        elif isinstance(tok, EndToken):
            yield from env.close_interchange(tok.trailing)
        else:
            yield from env.segment(tok)


def iter_transaction_sets(
    stream: BinaryIO, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[TransactionSet]:
    """Only the transaction sets, each with ``isa``/``gs`` context; bounded memory."""
    for ev in iter_events(stream, chunk_size):
        if isinstance(ev, TransactionSet):
            yield ev


def iter_interchanges(
    stream: BinaryIO | bytes, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[Interchange]:
    """Whole interchanges, one at a time, each renderable back to its exact text."""
    if isinstance(stream, bytes | bytearray):
        stream = io.BytesIO(stream)
    ic: Interchange | None = None
    group: FunctionalGroup | None = None
    for ev in iter_events(stream, chunk_size):
        if isinstance(ev, InterchangeOpened):
            ic = Interchange(
                isa=ev.isa, leading=ev.leading, isa_fixed_width=ev.fixed_width, index=ev.index
            )
        elif ic is None:
            continue
        elif isinstance(ev, GroupOpened):
            group = FunctionalGroup(gs=ev.gs, index=ev.index)
            ic.parts.append(group)
        elif isinstance(ev, TransactionSet | StraySegment):
            _place(ev, ic, group)
        elif isinstance(ev, GroupClosed):
            if group is not None:
                group.ge = ev.ge
            group = None
        else:
            ic.iea, ic.trailing = ev.iea, ev.trailing
            yield ic
            ic = None


def _place(
    ev: TransactionSet | StraySegment, ic: Interchange, group: FunctionalGroup | None
) -> None:
    part = ev.segment if isinstance(ev, StraySegment) else ev
    if group is not None:
        group.parts.append(part)
    else:
        ic.parts.append(part)
