"""How each FHIR resource type reads from the hub's canonical state: which entity types hold
it, which canonical ids a FHIR id names, and how a record renders (``mappings/fhir``).

Most types are their registry mapping with canonical id = FHIR id. PractitionerRole is a part
of its Practitioner; Schedule and Slot are derived, read only (docs/fhir-mappings.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from pydantic import TypeAdapter, ValidationError

from adapters.fhir.api import Interaction
from hub.canonical import EntityType
from hub.canonical.entities import Entity, Practitioner
from hub.errors import MappingError, UnsupportedMessage
from hub.records import EntityRecord
from hub.sync import is_tombstone
from mappings.fhir import FHIR_MAPPINGS, FhirMapContext, ResourceMapping
from mappings.fhir.appointment import schedule_to_fhir, slot_to_fhir
from mappings.fhir.practitioner import practitioner_role_to_fhir

__all__ = [
    "RoleView",
    "ScheduleView",
    "SlotView",
    "View",
    "entity_of",
    "views",
]

ENTITY: TypeAdapter[Entity] = TypeAdapter(Entity)
Json = dict[str, Any]

_READS = frozenset({Interaction.READ, Interaction.VREAD, Interaction.HISTORY, Interaction.SEARCH})
_WRITES = frozenset({Interaction.CREATE, Interaction.UPDATE})


def entity_of(record: EntityRecord) -> Any:
    """The canonical entity a store record holds (pydantic ``ValidationError`` if it does not
    validate)."""
    return ENTITY.validate_python(record.data)


@dataclass(frozen=True)
class View:
    """How one FHIR resource type reads from canonical state: which entity types, which ids,
    how it renders. The default: the registry mapping, canonical id = FHIR id."""

    resource_type: str
    mapping: ResourceMapping
    interactions: frozenset[Interaction] = _READS | _WRITES | {Interaction.DELETE}
    documentation: str = ""

    @property
    def entity_types(self) -> tuple[EntityType, ...]:
        return self.mapping.entity_types

    def locate(self, fhir_id: str) -> list[tuple[EntityType, str]]:
        """Where the record of ``fhir_id`` may be in the store."""
        return [(et, fhir_id) for et in self.entity_types]

    def fhir_id(self, entity: Entity) -> str:
        return str(entity.id)

    def present(self, record: EntityRecord) -> bool:
        """The record holds a live resource of this type: a write to it changes that
        resource (an update, scope ``u``) rather than creating one (``c``)."""
        return not is_tombstone(record)

    def render(self, entity: Entity, ctx: FhirMapContext) -> Json | None:
        """The resource, or ``None`` when this record has no such rendering."""
        try:
            return self.mapping.render(entity, ctx)
        except (MappingError, UnsupportedMessage):
            return None


@dataclass(frozen=True)
class RoleView(View):
    """PractitionerRole: the roles of a Practitioner, with the practitioner's id."""

    def present(self, record: EntityRecord) -> bool:
        """A practitioner without a role holds no PractitionerRole yet: writing one creates
        it. A record that does not validate counts as present (changing it needs ``u``)."""
        if not super().present(record):
            return False
        try:
            return _has_role(entity_of(record))
        except ValidationError:
            return True

    def render(self, entity: Entity, ctx: FhirMapContext) -> Json | None:
        if not _has_role(entity):
            return None
        return {"id": entity.id, **practitioner_role_to_fhir(entity, ctx)}


def _has_role(entity: Entity) -> TypeGuard[Practitioner]:
    return isinstance(entity, Practitioner) and bool(
        entity.roles or entity.specialties or entity.organization
    )


@dataclass(frozen=True)
class ScheduleView(View):
    """Schedule ``practitioner-<id>`` / ``location-<id>``: derived, read only."""

    def locate(self, fhir_id: str) -> list[tuple[EntityType, str]]:
        kind, _, cid = fhir_id.partition("-")
        types = {"practitioner": EntityType.PRACTITIONER, "location": EntityType.LOCATION}
        return [(types[kind], cid)] if kind in types and cid else []

    def fhir_id(self, entity: Entity) -> str:
        return f"{entity.entity_type.value.lower()}-{entity.id}"

    def render(self, entity: Entity, ctx: FhirMapContext) -> Json | None:
        if entity.entity_type not in (EntityType.PRACTITIONER, EntityType.LOCATION):
            return None
        try:
            return schedule_to_fhir(entity, ctx)
        except MappingError:
            return None


@dataclass(frozen=True)
class SlotView(View):
    """Slot = the time an Appointment occupies (same id): derived, read only."""

    def render(self, entity: Entity, ctx: FhirMapContext) -> Json | None:
        if entity.entity_type is not EntityType.APPOINTMENT:
            return None
        try:
            return slot_to_fhir(entity, ctx)
        except MappingError:
            return None


_DERIVED = (
    "derived from the hub's {what}; the hub keeps no availability, so {kind} cannot be "
    "written (docs/fhir-mappings.md, Schedule and Slot)"
)


def views(registry: Mapping[str, ResourceMapping] = FHIR_MAPPINGS) -> dict[str, View]:
    """One view per resource type of the mapping registry."""
    out: dict[str, View] = {}
    for name, mapping in registry.items():
        if name == "PractitionerRole":
            out[name] = RoleView(
                name,
                mapping,
                _READS | _WRITES,
                "id = the practitioner's id; a role is part of its Practitioner (no delete)",
            )
        elif name == "Schedule":
            doc = _DERIVED.format(what="practitioners and locations", kind="a Schedule")
            out[name] = ScheduleView(name, mapping, _READS, doc)
        elif name == "Slot":
            out[name] = SlotView(
                name, mapping, _READS, _DERIVED.format(what="appointments", kind="a Slot")
            )
        else:
            out[name] = View(name, mapping)
    return out
