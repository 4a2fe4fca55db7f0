"""Reading one inbound transaction set: its loop tree, the context, vocabulary look-ups,
identifier namespaces, provenance and event ids.

``X12Source`` bundles what every X12 mapping needs besides the segments themselves, so the
mapping functions stay pure functions of (transaction set, context).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeVar

from adapters.x12 import Interchange, Loop, LoopTree, Segment, TransactionSet
from hub.canonical import (
    CanonicalModel,
    Event,
    EventKind,
    Identifier,
    Provenance,
    RecordMeta,
)
from hub.canonical.entities import Entity
from hub.context import MapContext
from hub.errors import MappingError
from mappings.vocab import VocabularyTables, builtin_tables

from .values import parse_datetime

__all__ = [
    "ID_NAMESPACE_TABLE",
    "ID_TYPE_TABLE",
    "Mapper",
    "X12Source",
    "walk_loops",
]

_BUILTIN = VocabularyTables(builtin_tables())
ID_NAMESPACE_TABLE = "x12_identifier_namespace"
ID_TYPE_TABLE = "x12_identifier_type"
#: fields of a record that are bookkeeping, not values a message sets
_META_SKIP = {"id", "entity_type", "meta"}

#: an inbound mapping: one transaction set read through a ``X12Source`` → its events
Mapper = Callable[["X12Source"], list[Event]]

R = TypeVar("R", bound=CanonicalModel)


def walk_loops(
    loop: Loop, ancestors: tuple[Loop, ...] = ()
) -> Iterator[tuple[Loop, tuple[Loop, ...]]]:
    """Every loop under ``loop`` in document order, with its enclosing loops (outermost
    first). The guide tables nest the HL levels (2000B inside 2000A), so a claim's
    subscriber and billing provider are among its ancestors."""
    for item in loop.items:
        if isinstance(item, Loop):
            yield item, ancestors
            yield from walk_loops(item, (*ancestors, item))


class X12Source:
    """One transaction set being mapped.

    ``message_key`` names the set as events show it (``837P``, ``835``, ``277CA``);
    ``tree`` is its loop tree, built from the guide table the registry chose (a 4010 set
    is read with its 5010 relative's table, see ``inbound.INBOUND``).
    """

    def __init__(
        self,
        ts: TransactionSet,
        ctx: MapContext,
        message_key: str,
        tree: LoopTree,
        envelope: Interchange | None = None,
    ) -> None:
        self.ts = ts
        self.ctx = ctx
        self.message_key = message_key
        self.tree = tree
        self.isa = envelope.isa if envelope is not None else ts.isa

    # ------------------------------------------------------------------ structure

    @property
    def root(self) -> Loop:
        return self.tree.root

    def header(self, segment_id: str) -> Segment | None:
        """A segment of the set's header (the ST loop's own segments: BHT, BPR, BEG …)."""
        return self.root.segment(segment_id)

    def require(self, loop: Loop, segment_id: str, loop_id: str | None = None) -> Segment:
        """The loop's first ``segment_id``, or a MappingError naming ``loop/segment``."""
        seg = loop.segment(segment_id)
        if seg is None:
            where = loop_id or loop.id
            raise MappingError(
                f"{where} has no {segment_id} segment",
                code="required",
                location=f"{where}/{segment_id}",
            )
        return seg

    # ------------------------------------------------------------------ vocabulary

    def lookup(self, table: str, code: str | None) -> str | None:
        """``table``'s target for ``code``: the context's vocabulary (built-in tables with
        the site's overrides) first, then the built-in tables."""
        if not code:
            return None
        for vocab in (self.ctx.vocab, _BUILTIN):
            hit = vocab.translate(table, code)
            if hit:
                return hit
        return None

    def namespace(self, kind: str) -> str:
        """The namespace for ``kind`` when the message names none: the system's configured
        one, else one private to the sending system (the HL7 v2 mappings' rule)."""
        return self.ctx.namespaces.get(kind) or f"{self.ctx.source_system}:{kind}"

    def id_namespace(self, qualifier: str) -> str:
        """The namespace of an identifier by its X12 qualifier (NM108, REF01, N103):
        well-known ones from ``x12_identifier_namespace`` (XX → the NPI URI the HL7 v2 and
        FHIR mappings use), else the site's ``x12:<qualifier>`` namespace, else one private
        to the sending system (``<system>:x12:<qualifier>``)."""
        return (
            self.lookup(ID_NAMESPACE_TABLE, qualifier)
            or self.ctx.namespaces.get(f"x12:{qualifier}")
            or f"{self.ctx.source_system}:x12:{qualifier}"
        )

    def member_namespace(self, payer_id: str | None) -> str:
        """Where member ids (NM108 MI) live: the payer's namespace. The site's
        ``member:<payer id>`` or ``member`` namespace, else ``urn:carehub:x12:payer:<payer
        id>`` (the payer id of 2010BB / 2100A / 1000A), else the sender's ``member``."""
        ns = self.ctx.namespaces
        if payer_id:
            return ns.get(f"member:{payer_id}") or ns.get("member") or _payer_urn(payer_id)
        return self.namespace("member")

    def payer_claim_namespace(self, payer_id: str | None) -> str:
        """Where a payer's claim control numbers (CLP07, REF*1K, REF*F8) live: the payer's
        namespace with ``#claim``."""
        base = _payer_urn(payer_id) if payer_id else self.namespace("payer")
        return f"{base}#claim"

    def identifier(self, value: str, system: str | None, type_: str | None = None) -> Identifier:
        return Identifier(value=value, system=system, type=type_, source=self.ctx.source_system)

    def qualified(
        self, qualifier: str, value: str, member_ns: str | None = None
    ) -> Identifier | None:
        """An identifier from a (qualifier, value) pair; member ids go to ``member_ns``."""
        value = value.strip()
        if not value or not qualifier:
            return None
        type_ = self.lookup(ID_TYPE_TABLE, qualifier)
        system = member_ns if (type_ == "MB" and member_ns) else self.id_namespace(qualifier)
        if type_ in ("TAX", "SS") and value.replace("-", "").isdigit():
            value = value.replace("-", "")  # EIN 10-1234567 and SSN 123-45-6789 as digits
        return self.identifier(value, system, type_)

    # ------------------------------------------------------------------ events

    @property
    def control_id(self) -> str:
        """``ISA13/GS06/ST02``: the set's control numbers, outermost first."""
        isa13 = self.isa.element(13) if self.isa is not None else ""
        gs06 = self.ts.gs.element(6) if self.ts.gs is not None else ""
        return f"{isa13}/{gs06}/{self.ts.control_number}"

    @property
    def sent_at(self) -> datetime | None:
        """GS04/GS05: when the sender built the functional group."""
        gs = self.ts.gs
        if gs is None:
            return None
        return parse_datetime(gs.element(4), gs.element(5), "GS04")

    def provenance(self) -> Provenance:
        return self.ctx.provenance(self.message_key, self.control_id, self.sent_at)

    def event(
        self,
        kind: EventKind,
        entity: Entity,
        occurred_at: datetime | None,
        subjects: list[Identifier] | None = None,
    ) -> Event:
        """An event of this set. Its id is left to the pipeline, which derives it from the
        interchange's de-duplication key and the event's position (``hub.ids``)."""
        fields: dict[str, object] = {
            "kind": kind,
            "entity": entity,
            "provenance": self.provenance(),
            "occurred_at": occurred_at or self.sent_at or self.ctx.received_at,
            "subject_identifiers": subjects or [],
        }
        return Event.model_validate(fields)

    def stamp(self, record: R, updated_at: datetime | None = None) -> R:
        """Set ``meta`` on a record: the source system, the update time, and that source
        for every top-level field the set filled."""
        fields = {
            name: self.ctx.source_system
            for name in type(record).model_fields
            if name not in _META_SKIP and getattr(record, name) not in (None, [], "")
        }
        meta = RecordMeta(
            source=self.ctx.source_system,
            updated_at=updated_at or self.sent_at,
            field_sources=fields,
        )
        setattr(record, "meta", meta)  # noqa: B010 - every entity has meta
        return record


def _payer_urn(payer_id: str) -> str:
    return f"urn:carehub:x12:payer:{payer_id}"
