"""FHIR Location ↔ canonical Location (PV1-3 / AIL-3 person location meanings).

``physicalType`` ↔ ``kind``. The canonical HL7 v2 PL components (point of care, room, bed,
facility) have no Location element of their own: when a Location has no name they are joined
into ``name`` ("4W 401 A"), and read back only as that name. The V2-to-FHIR guide's Location
hierarchy (bed ``partOf`` room ``partOf`` ward) is future work.
"""

from __future__ import annotations

from hub.canonical import EntityType, EventKind, Location
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import address, coded, identifier, leaf, reference
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    address_from,
    address_to,
    coded_from,
    coded_to,
    compact,
    get_list,
    get_obj,
    get_str,
)
from mappings.fhir.references import (
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = ["MAPPING", "location_from_fhir", "location_to_fhir"]


def location_from_fhir(resource: Json, ctx: FhirMapContext) -> Location:
    """FHIR Location → canonical Location."""
    resource = expect_resource(resource, "Location")
    entity_id, kept = resource_id_from(resource, EntityType.LOCATION, ctx)
    return build(
        Location,
        ctx,
        "Location",
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", "Location.identifier"), "Location.identifier", ctx
            ),
            *kept,
        ],
        name=get_str(resource, "name", "Location.name"),
        status=get_str(resource, "status", "Location.status"),
        kind=coded_from(
            get_obj(resource, "physicalType", "Location.physicalType"), "Location.physicalType"
        ),
        address=address_from(get_obj(resource, "address", "Location.address"), "Location.address"),
        part_of=ref_from(
            get_obj(resource, "partOf", "Location.partOf"),
            "Location.partOf",
            ctx,
            (EntityType.LOCATION,),
        ),
    )


def _name(location: Location) -> str | None:
    if location.name:
        return location.name
    parts = [location.point_of_care, location.room, location.bed]
    return " ".join(p for p in parts if p) or location.facility


def location_to_fhir(location: Location, ctx: FhirMapContext) -> Json:
    """Canonical Location → FHIR Location."""
    return compact(
        {
            "resourceType": "Location",
            "id": resource_id_to(location.id, location.identifiers, EntityType.LOCATION, ctx),
            "identifier": identifiers_to(location.identifiers, ctx),
            "status": location.status,
            "name": _name(location),
            "physicalType": coded_to(location.kind),
            "address": address_to(location.address),
            "partOf": ref_to(location.part_of, ctx),
        }
    )


def _event(location: Location, previous: Location | None) -> EventKind:
    return EventKind.LOCATION_UPDATED


MAPPING = ResourceMapping(
    resource_type="Location",
    entity_types=(EntityType.LOCATION,),
    to_fhir=location_to_fhir,
    from_fhir=location_from_fhir,
    event_kind=_event,
    carried=(
        *leaf("Location.id"),
        *identifier("Location.identifier"),
        *leaf("Location.status"),
        *leaf("Location.name"),
        *coded("Location.physicalType"),
        *address("Location.address"),
        *reference("Location.partOf", ("Location",)),
    ),
    notes=(
        "telecom, managingOrganization, type, alias, description, position and hours are "
        "dropped: the canonical Location has no field for them.",
        "PL components (point of care/room/bed/facility) are written as the name when the "
        "Location has none.",
    ),
)
