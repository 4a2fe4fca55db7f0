"""A planned FHIR write: what each entry of a request targets, the canonical entity it maps
to, what the store holds for it now, and its answer once known. ``WritePlan`` is the native
value of the pipeline format (``writes.FhirInboundFormat``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.fhir.api import Answer, Caller, WriteEntry
from carehub.app.fhir.views import View
from hub.canonical import EntityType, Event
from hub.findings import Report
from hub.records import EntityRecord
from hub.sync import is_tombstone

__all__ = ["Planned", "WritePlan"]

Json = dict[str, Any]


@dataclass
class Planned:
    """One write entry, planned: its target, its canonical entity, what exists now."""

    entry: WriteEntry
    view: View
    prefix: str
    resource: Json | None = None
    fhir_id: str | None = None
    entity: Any = None
    entity_type: EntityType | None = None
    current: EntityRecord | None = None
    status: int = 201
    answer: Answer | None = None
    event: Event | None = None
    #: the entry's If-None-Exist matched an existing record (``answer`` is about it)
    matched: bool = False
    #: why the identity rules hold this write for review (field names, no values)
    held: str | None = None
    #: the records a held entry's identifiers name (its review: the first, and the others)
    candidates: tuple[str, ...] = ()

    @property
    def alive(self) -> bool:
        """A current state exists and is not a tombstone."""
        return self.current is not None and not is_tombstone(self.current)

    @property
    def existing(self) -> bool:
        """The entry is about a record that existed before this request (its target, or
        the match of its If-None-Exist), and the request did not name it by id: an answer
        naming it tells the client who is in the hub."""
        return (self.current is not None or self.matched) and self.entry.id is None


@dataclass
class WritePlan:
    """Everything one request will do; the ``FhirInboundFormat``'s native value."""

    caller: Caller
    items: list[Planned]
    report: Report = field(default_factory=Report)
    message_key: str = "fhir"

    @property
    def settled(self) -> bool:
        """Every entry is answered without writing (e.g. a conditional create that matched)."""
        return all(p.answer is not None for p in self.items)
