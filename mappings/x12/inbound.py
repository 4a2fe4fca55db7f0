"""The inbound registry: ``<ST01>:<convention>`` (or ``<ST01>``) → mapping, and
``map_transaction``.

Key scheme. Health-care sets are keyed by ST01 and the implementation convention (ST03,
else GS08): ``837:005010X222A1``. The HIPAA-adopted guide, its errata and base versions
(``X222``, ``X222A2``) and the 4010 predecessor (``004010X098A1``) are separate keys naming
the same mapping; each says which guide table its loop tree is read with (a 4010 set is
read with its 5010 relative's table — the loops and qualifiers the mappings read are the
same). Supply-chain sets (850/855/856/810) are keyed by ST01 alone: any version (004010,
004010VICS, 004060, 005010) maps alike. A set with no key raises ``UnsupportedMessage``
saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from adapters.x12 import Interchange, LoopTree, TransactionSet, default_registry
from adapters.x12.loops import build_tree
from hub.canonical import ClaimKind, Event
from hub.context import MapContext
from hub.errors import UnsupportedMessage

from .claim_837 import map_837
from .eligibility import map_270, map_271
from .remit_835 import map_835
from .source import X12Source
from .status_277 import map_277
from .supply import map_810, map_850, map_855, map_856

__all__ = [
    "INBOUND",
    "InboundMapping",
    "Mapper",
    "find_mapping",
    "inbound_key",
    "map_interchange",
    "map_transaction",
]


@dataclass(frozen=True, slots=True)
class InboundMapping:
    """One registry entry: the mapping function, the key its events carry
    (``Provenance.message_key``) and the guide table its loop tree is read with (None:
    the set's own, as ``TransactionSet.tree`` resolves it)."""

    mapper: Callable[[X12Source], list[Event]]
    message_key: str
    table: str | None = None

    def __call__(
        self, ts: TransactionSet, ctx: MapContext, envelope: Interchange | None = None
    ) -> list[Event]:
        return self.mapper(X12Source(ts, ctx, self.message_key, self._tree(ts), envelope))

    def _tree(self, ts: TransactionSet) -> LoopTree:
        if self.table is None:
            return ts.tree()
        guide = default_registry().find(ts.id, self.table)
        own = ts.tree()
        # the set's own (cached) tree when its guide is the one wanted: tables load once
        return own if own.guide is guide else build_tree(ts.segments, guide)


#: an inbound mapping, as the registry holds it
Mapper = InboundMapping


def _p(src: X12Source) -> list[Event]:
    return map_837(src, ClaimKind.PROFESSIONAL)


def _i(src: X12Source) -> list[Event]:
    return map_837(src, ClaimKind.INSTITUTIONAL)


def _277(src: X12Source) -> list[Event]:
    return map_277(src, acknowledgment=False)


def _277ca(src: X12Source) -> list[Event]:
    return map_277(src, acknowledgment=True)


_P = InboundMapping(_p, "837P", "005010X222A1")
_I = InboundMapping(_i, "837I", "005010X223A2")
_835 = InboundMapping(map_835, "835", "005010X221A1")
_270 = InboundMapping(map_270, "270", "005010X279A1")
_271 = InboundMapping(map_271, "271", "005010X279A1")
_277S = InboundMapping(_277, "277", "005010X212")


def _registry() -> dict[str, InboundMapping]:
    table: dict[str, InboundMapping] = {}
    for version in ("005010X222A1", "005010X222A2", "005010X222", "004010X098A1", "004010X098"):
        table[f"837:{version}"] = _P
    for version in ("005010X223A2", "005010X223A3", "005010X223A1", "005010X223"):
        table[f"837:{version}"] = _I
    for version in ("004010X096A1", "004010X096"):
        table[f"837:{version}"] = _I
    for version in ("005010X221A1", "005010X221", "004010X091A1", "004010X091"):
        table[f"835:{version}"] = _835
    for version in ("005010X279A1", "005010X279", "004010X092A1", "004010X092"):
        table[f"270:{version}"] = _270
        table[f"271:{version}"] = _271
    for version in ("005010X212", "004010X093A1", "004010X093"):
        table[f"277:{version}"] = _277S
    table["277:005010X214"] = InboundMapping(_277ca, "277CA", "005010X214")
    table["850"] = InboundMapping(map_850, "850")
    table["855"] = InboundMapping(map_855, "855")
    table["856"] = InboundMapping(map_856, "856")
    table["810"] = InboundMapping(map_810, "810")
    return table


#: key → mapping; an explicit value that carehub.app wires (never filled on import by
#: decorators)
INBOUND: Mapping[str, InboundMapping] = MappingProxyType(_registry())

#: why a known set is not mapped (the text of its UnsupportedMessage)
_NOT_MAPPED = {
    "276": "276 is a claim status request: payers answer it, the hub sends it (no canonical "
    "event for a received status request)",
    "278": "278 (health care services review) has no canonical event",
    "834": "834 (benefit enrollment) has no canonical event",
    "820": "820 (premium payment) has no canonical event",
    "824": "824 (application advice) is an acknowledgement, read by conformance",
    "997": "997 is an acknowledgement, not a business event; conformance reads it",
    "999": "999 is an acknowledgement, not a business event; conformance reads it",
    "TA1": "TA1 is an acknowledgement, not a business event; conformance reads it",
}


def inbound_key(ts: TransactionSet) -> str:
    """``ST01:convention`` — the convention being ST03, else GS08."""
    return f"{ts.id}:{ts.version}"


def find_mapping(ts: TransactionSet) -> InboundMapping:
    """The registry entry for ``ts``: by ``ST01:convention``, then by ST01 alone.

    Raises ``UnsupportedMessage`` (location ``ST01`` or ``ST03``) otherwise, saying why.
    """
    found = INBOUND.get(inbound_key(ts)) or INBOUND.get(ts.id)
    if found is not None:
        return found
    if ts.id in _NOT_MAPPED:
        raise UnsupportedMessage(_NOT_MAPPED[ts.id], code="not-supported", location="ST01")
    if any(key.startswith(f"{ts.id}:") for key in INBOUND):
        raise UnsupportedMessage(
            f"{ts.id} is mapped for other implementation conventions, not {ts.version or '(none)'}",
            code="not-supported",
            location="ST03",
        )
    raise UnsupportedMessage(
        f"transaction set {ts.id or '(empty)'} has no mapping",
        code="not-supported",
        location="ST01",
    )


def map_transaction(
    ts: TransactionSet, ctx: MapContext, *, envelope: Interchange | None = None
) -> list[Event]:
    """Map one transaction set to canonical events.

    ``envelope`` is the interchange the set came in (its ISA13 goes into the events'
    control id); by default the set's own ``isa``. Raises ``UnsupportedMessage`` for what
    ``INBOUND`` has no mapping for and ``MappingError`` (naming ``loop/element``, never
    quoting the value) when a value cannot be carried.
    """
    return find_mapping(ts)(ts, ctx, envelope)


def map_interchange(interchange: Interchange, ctx: MapContext) -> list[Event]:
    """Every set of an interchange, in order. A set that is not supported raises, like
    ``map_transaction``: the caller decides whether a partly mappable interchange is an
    error (the 999 it answers with is conformance's business)."""
    events: list[Event] = []
    for ts in interchange.transaction_sets():
        events.extend(map_transaction(ts, ctx, envelope=interchange))
    return events
