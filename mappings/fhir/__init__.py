"""FHIR R4 resources ↔ the canonical model: pure functions, no I/O (DESIGN: mappings/).

Entry points::

    from_fhir(resource, ctx)            -> Entity | list[Entity]   (list: Schedule/Slot → [])
    to_fhir(entity, ctx, resource_type, event=kind) -> dict (FHIR JSON, valid per R4B)
    from_bundle(bundle, ctx)            -> BundleResult (entities, unsupported entries)
    event_kind(resource_type, entity, previous) -> EventKind | None
    coverage_report()                   -> what each resource keeps and drops

Only ``hub.errors`` escape: ``UnsupportedMessage`` for resource types (or uses) the hub does
not map, ``MappingError`` naming the element path (``Patient.birthDate``) otherwise.
See docs/fhir-mappings.md for the element tables and decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.canonical import EventKind
from hub.canonical.entities import Entity
from hub.errors import MappingError, UnsupportedMessage
from mappings.fhir.base import ResourceMapping
from mappings.fhir.carried import Carried, carried_values
from mappings.fhir.context import FhirMapContext, default_namespace, default_system_uri
from mappings.fhir.datatypes import Json
from mappings.fhir.patient import merge_to_fhir, replaced_patients
from mappings.fhir.registry import (
    DEFAULT_RESOURCE,
    EVENT_RESOURCE,
    FHIR_MAPPINGS,
    FHIR_VERSION,
    coverage_report,
    resource_for,
)
from mappings.fhir.vocab import FhirVocabulary, load_vocabulary

__all__ = [
    "DEFAULT_RESOURCE",
    "EVENT_RESOURCE",
    "FHIR_MAPPINGS",
    "FHIR_VERSION",
    "BundleResult",
    "Carried",
    "FhirMapContext",
    "ResourceMapping",
    "FhirVocabulary",
    "carried_values",
    "coverage_report",
    "default_namespace",
    "default_system_uri",
    "event_kind",
    "from_bundle",
    "from_fhir",
    "load_vocabulary",
    "mapping_for",
    "merge_to_fhir",
    "replaced_patients",
    "resource_for",
    "to_fhir",
]


def mapping_for(
    resource_type: Any, registry: Mapping[str, ResourceMapping] = FHIR_MAPPINGS
) -> ResourceMapping:
    """The mapping of ``resource_type``; ``UnsupportedMessage`` for any other type."""
    mapping = registry.get(resource_type) if isinstance(resource_type, str) else None
    if mapping is None:
        raise UnsupportedMessage(
            f"FHIR resource type {resource_type!r} is not mapped; "
            f"supported: {', '.join(sorted(registry))}",
            location="resourceType",
        )
    return mapping


def from_fhir(resource: Json, ctx: FhirMapContext) -> Entity | list[Entity]:
    """One FHIR resource (JSON dict) → its canonical entity (``[]`` for Schedule/Slot)."""
    if not isinstance(resource, dict):
        raise MappingError("a FHIR resource must be a JSON object", location="resourceType")
    result: Entity | list[Entity] = mapping_for(resource.get("resourceType")).from_fhir(
        resource, ctx
    )
    return result


def to_fhir(
    entity: Entity,
    ctx: FhirMapContext,
    resource_type: str | None = None,
    *,
    event: EventKind | None = None,
) -> Json:
    """A canonical entity → FHIR JSON, as ``resource_type``, else as the resource the event's
    kind names (``eligibility.requested`` → CoverageEligibilityRequest), else as the
    entity's usual resource."""
    name = resource_type or resource_for(entity.entity_type, event)
    if name is None:
        raise UnsupportedMessage(
            f"no FHIR resource renders a canonical {entity.entity_type.value}",
            location="resourceType",
        )
    return mapping_for(name).render(entity, ctx)


def event_kind(
    resource_type: str, entity: Entity, previous: Entity | None = None
) -> EventKind | None:
    """The event to emit for ``entity`` read from ``resource_type`` (``previous``: the state
    the hub held before, ``None`` when the record is new)."""
    return mapping_for(resource_type).event_kind(entity, previous)


@dataclass(frozen=True)
class BundleResult:
    """What ``from_bundle`` kept (entry index, resource type, entity) and what it did not
    (entry index, resource type, reason)."""

    entities: list[tuple[int, str, Entity]] = field(default_factory=list)
    unsupported: list[tuple[int, str, str]] = field(default_factory=list)


def _entry_resource(entry: Any, index: int) -> Json | None:
    if not isinstance(entry, dict):
        raise MappingError("an entry must be an object", location=f"Bundle.entry[{index}]")
    resource = entry.get("resource")
    return resource if isinstance(resource, dict) else None


def from_bundle(bundle: Json, ctx: FhirMapContext) -> BundleResult:
    """Every entry of a Bundle that carries a resource: mapped, or listed as unsupported."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise UnsupportedMessage("expected a Bundle", location="Bundle.resourceType")
    result = BundleResult()
    entries = bundle.get("entry") or []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = _entry_resource(entry, index)
        if resource is None:
            continue  # a request-only or response-only entry carries nothing to map
        kind = str(resource.get("resourceType"))
        try:
            mapped = from_fhir(resource, ctx)
        except UnsupportedMessage as exc:
            result.unsupported.append((index, kind, exc.message))
            continue
        except MappingError as exc:
            where = f"Bundle.entry[{index}].resource.{exc.location or kind}"
            raise MappingError(exc.message, code=exc.code, location=where) from exc
        items = mapped if isinstance(mapped, list) else [mapped]
        result.entities.extend((index, kind, item) for item in items)
    return result
