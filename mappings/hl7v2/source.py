"""Reading one inbound message: its segments with their HL7 locations, the sender's time
zone, vocabulary look-ups and the identifier namespace fallbacks.

``Hl7v2Source`` bundles what every segment mapping needs besides the segment itself, so the
mapping functions stay pure functions of (message, context).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from functools import cached_property

from adapters.hl7v2 import Message, Repetition, Segment
from hub.canonical import Event, EventKind, Identifier, Provenance
from hub.canonical.entities import Entity
from hub.context import MapContext
from hub.errors import MappingError
from mappings.vocab import VocabularyTables, builtin_tables

from .values import parse_date, parse_datetime, parse_moment, parse_when

__all__ = [
    "EXPLICIT_NULL",
    "Mapper",
    "Seg",
    "Hl7v2Source",
    "declare_emits",
    "emits_of",
    "is_null",
    "rep_text",
]

#: HL7 v2's explicit null (v2.5.1 chapter 2.5.3): the sender deletes the value held for the
#: field. Read as no value here; ``Seg.cleared`` tells a mapping it means "clear", not "absent"
EXPLICIT_NULL = '""'


def is_null(text: str | None) -> bool:
    """True for the explicit null ``""`` (surrounding blanks allowed)."""
    return text is not None and text.strip() == EXPLICIT_NULL


_BUILTIN = VocabularyTables(builtin_tables())

#: an inbound mapping: one parsed message and its context → the events it means
Mapper = Callable[[Message, MapContext], list[Event]]


@dataclass(frozen=True, slots=True)
class Seg:
    """One segment and how to name its fields in errors: ``PID``, ``FT1[2]``."""

    segment: Segment
    label: str

    @property
    def id(self) -> str:
        return self.segment.id

    def loc(self, field: int) -> str:
        return f"{self.label}-{field}"

    def text(self, field: int, component: int = 1, subcomponent: int = 1) -> str | None:
        """The first repetition's primitive, unescaped and stripped; None when empty."""
        value = self.segment.value(field, 1, component, subcomponent)
        value = value.strip() if value else None
        return None if not value or value == EXPLICIT_NULL else value

    def reps(self, field: int) -> list[Repetition]:
        """Every non-empty repetition of the field (an explicit null ``""`` is empty)."""
        return [
            r
            for r in self.segment.repetitions(field)
            if r.raw.strip() and r.raw.strip() != EXPLICIT_NULL
        ]

    def cleared(self, field: int) -> bool:
        """The whole field is the explicit null ``""``: the sender deletes its value (an
        empty or absent field leaves the value as it is)."""
        return is_null(self.segment.field(field))

    def first(self, field: int) -> Repetition | None:
        reps = self.reps(field)
        return reps[0] if reps else None


def rep_text(rep: Repetition | None, component: int = 1, subcomponent: int = 1) -> str | None:
    """A component of a repetition, unescaped and stripped; None when empty or absent."""
    if rep is None:
        return None
    value = rep.get(component, subcomponent)
    value = value.strip() if value else None
    return None if not value or value == EXPLICIT_NULL else value


class Hl7v2Source:
    """One inbound message being mapped."""

    def __init__(self, msg: Message, ctx: MapContext, message_key: str):
        self.msg = msg
        self.ctx = ctx
        self.message_key = message_key
        self.segs = _label(msg.segments)

    # ------------------------------------------------------------------ segments

    def all(self, seg_id: str) -> list[Seg]:
        return [s for s in self.segs if s.id == seg_id]

    def one(self, seg_id: str) -> Seg | None:
        return next((s for s in self.segs if s.id == seg_id), None)

    @property
    def msh(self) -> Seg:
        return self.segs[0]

    # ------------------------------------------------------------------ time

    @cached_property
    def sent_at(self) -> datetime | None:
        """MSH-7, the message time as the sender stated it."""
        return parse_datetime(self.msh.text(7), "MSH-7", None)

    @cached_property
    def tz(self) -> tzinfo | None:
        """The sender's offset, from MSH-7: the default for values sent without one
        (v2.5.1 chapter 2A.22: a time without an offset is in the sender's local zone)."""
        text = self.msh.text(7)
        return parse_moment(text, "MSH-7", what="date/time").tz if text else None

    def date_of(self, seg: Seg, field: int, component: int = 1) -> date | None:
        """A DT/DTM field as a date (the day as written)."""
        return parse_date(seg.text(field, component), seg.loc(field))

    def datetime_of(self, seg: Seg, field: int, component: int = 1) -> datetime | None:
        """A DTM/TS field as a datetime, in the sender's offset when it has none."""
        return parse_datetime(seg.text(field, component), seg.loc(field), self.tz)

    def when_of(self, seg: Seg, field: int, component: int = 1) -> datetime | date | None:
        """A DTM/TS field keeping its precision (a date when no time was sent)."""
        return parse_when(seg.text(field, component), seg.loc(field), self.tz)

    @property
    def message_time(self) -> datetime:
        """MSH-7, else when the hub received the message."""
        return self.sent_at or self.ctx.received_at

    # ------------------------------------------------------------------ vocabulary

    def lookup(self, table: str, code: str | None) -> str | None:
        """``table``'s target for ``code`` as sent, upper-cased or capitalised (HL7 tables
        mix ``CP`` and ``Internet``, ``Booked``). The context's vocabulary (built-in tables
        with the site's overrides) first, then the built-in tables, so a context made
        without a vocabulary still maps coded values."""
        if not code:
            return None
        for vocab in (self.ctx.vocab, _BUILTIN):
            for candidate in (code, code.upper(), code.capitalize()):
                hit = vocab.translate(table, candidate)
                if hit:
                    return hit
        return None

    def namespace(self, kind: str) -> str:
        """The identifier namespace for ``kind`` when a message names no assigning
        authority: the system's configured one, else one private to the sending system, so
        two systems' bare identifiers never collide."""
        return self.ctx.namespaces.get(kind) or f"{self.ctx.source_system}:{kind}"

    def identifier(self, value: str, system: str | None, type_: str | None = None) -> Identifier:
        return Identifier(value=value, system=system, type=type_, source=self.ctx.source_system)

    # ------------------------------------------------------------------ events

    def provenance(self) -> Provenance:
        return self.ctx.provenance(self.message_key, self.msh.text(10), self.sent_at)

    def event(
        self,
        kind: EventKind,
        entity: Entity,
        occurred_at: datetime | None,
        subjects: list[Identifier] | None = None,
        **extra: object,
    ) -> Event:
        """An event of this message. Its id is left to the pipeline, which derives it from
        the sender's de-duplication key (``hub.ids``)."""
        fields: dict[str, object] = {
            "kind": kind,
            "entity": entity,
            "provenance": self.provenance(),
            "occurred_at": occurred_at or self.message_time,
            "subject_identifiers": subjects or [],
            **extra,
        }
        return Event.model_validate(fields)

    def require(self, seg_id: str) -> Seg:
        """The first ``seg_id`` segment, or a MappingError naming the missing segment."""
        seg = self.one(seg_id)
        if seg is None:
            raise MappingError(
                f"{self.message_key} has no {seg_id} segment", code="100", location=seg_id
            )
        return seg


def _label(segments: list[Segment]) -> list[Seg]:
    seen: Counter[str] = Counter()
    out = []
    for segment in segments:
        seen[segment.id] += 1
        n = seen[segment.id]
        out.append(Seg(segment, segment.id if n == 1 else f"{segment.id}[{n}]"))
    return out


#: the attribute of an inbound mapping naming the event kinds it can emit
_EMITS = "emits"


def declare_emits(mapper: Mapper, *kinds: EventKind) -> Mapper:
    """Say which event kinds ``mapper`` can emit (for ``carehub mappings coverage``, which
    reads it from the registry ``INBOUND``); returns ``mapper``."""
    setattr(mapper, _EMITS, tuple(dict.fromkeys(kinds)))
    return mapper


def emits_of(mapper: Mapper) -> tuple[EventKind, ...] | None:
    """The event kinds ``mapper`` declared (``declare_emits``); ``None`` when it did not."""
    kinds = getattr(mapper, _EMITS, None)
    return tuple(kinds) if kinds is not None else None
