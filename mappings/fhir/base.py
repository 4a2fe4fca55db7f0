"""What every FHIR resource mapping is: ``ResourceMapping``, and the helpers all of them use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hub.canonical import EntityType, EventKind, RecordMeta
from hub.canonical.entities import Entity
from hub.errors import MappingError, UnsupportedMessage
from mappings.fhir.carried import Table, dropped_elements
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import Json

__all__ = ["FromFhir", "ResourceMapping", "ToFhir", "build", "expect_resource"]

ToFhir = Callable[[Any, FhirMapContext], Json]
FromFhir = Callable[[Json, FhirMapContext], Any]
#: (entity, previous state or None when new) → the event kind to emit, or None for no event
EventRule = Callable[[Any, Any], EventKind | None]

_E = TypeVar("_E", bound=BaseModel)


@dataclass(frozen=True)
class ResourceMapping:
    """One FHIR resource type ↔ canonical, as a value the app wires (no import-time registry).

    ``entity_types``: canonical types ``from_fhir`` yields and ``to_fhir`` accepts (the first is
    the usual one). ``carried``: the COVERAGE table; ``notes``: decisions a reader needs.
    """

    resource_type: str
    entity_types: tuple[EntityType, ...]
    to_fhir: ToFhir
    from_fhir: FromFhir
    event_kind: EventRule
    carried: Table
    notes: tuple[str, ...] = ()

    def render(self, entity: Entity, ctx: FhirMapContext) -> Json:
        """``to_fhir`` after checking that ``entity`` is a type this resource renders from."""
        if entity.entity_type not in self.entity_types:
            raise MappingError(
                f"a canonical {entity.entity_type.value} cannot be rendered as this resource",
                location=self.resource_type,
            )
        return self.to_fhir(entity, ctx)

    def coverage(self) -> dict[str, Any]:
        return {
            "entity_types": [t.value for t in self.entity_types],
            "carried": [c.path for c in self.carried],
            "dropped": dropped_elements(self.resource_type, self.carried),
            "notes": list(self.notes),
        }


def expect_resource(resource: Any, resource_type: str) -> Json:
    """The resource as a dict of ``resource_type``; anything else is unsupported here."""
    if not isinstance(resource, dict):
        raise MappingError("a FHIR resource must be a JSON object", location=resource_type)
    if resource.get("resourceType") != resource_type:
        raise UnsupportedMessage(
            f"expected {resource_type}, got {resource.get('resourceType')!r}",
            location=f"{resource_type}.resourceType",
        )
    return resource


def build(model: type[_E], ctx: FhirMapContext, where: str, /, **fields: Any) -> _E:
    """Construct a canonical entity from the fields a resource set.

    Empty values are left unset so ``RecordMeta.field_sources`` lists exactly the fields this
    message asserted (the sync engine merges partial records, e.g. a PractitionerRole).
    """
    given = {k: v for k, v in fields.items() if v is not None and v != []}
    asserted = sorted(k for k in given if k not in ("id", "identifiers"))
    meta = RecordMeta(source=ctx.source, field_sources=dict.fromkeys(asserted, ctx.source))
    try:
        return model.model_validate({**given, "meta": meta})
    except ValidationError as exc:  # a value the canonical model refuses
        refused = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        # the field names only: pydantic's own text quotes the input, which may be PHI
        raise MappingError(f"canonical {model.__name__} refused {refused}", location=where) from exc
