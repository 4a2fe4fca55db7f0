"""FHIR Organization ↔ canonical Organization (payer, vendor, provider, department).

``Organization.type`` (terminology.hl7.org organization-type) ↔ ``Organization.kind``:
prov ↔ provider, pay/ins → payer (written as pay), dept ↔ department, bus ↔ vendor,
other ↔ other; a clearinghouse has no code and is written as ``other`` with display
"Clearinghouse", which is how it is recognised again.
"""

from __future__ import annotations

from hub.canonical import EntityType, EventKind, Organization, OrganizationKind
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import Carried, address, identifier, leaf, reference, telecom
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    address_from,
    address_to,
    compact,
    get_bool,
    get_list,
    get_obj,
    get_str,
    many,
    telecom_from,
    telecom_to,
)
from mappings.fhir.references import (
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = ["MAPPING", "ORGANIZATION_TYPE", "organization_from_fhir", "organization_to_fhir"]

ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
_FROM_CODE = {
    "prov": OrganizationKind.PROVIDER,
    "pay": OrganizationKind.PAYER,
    "ins": OrganizationKind.PAYER,
    "dept": OrganizationKind.DEPARTMENT,
    "bus": OrganizationKind.VENDOR,
    "other": OrganizationKind.OTHER,
}
_TO_CODE = {
    OrganizationKind.PROVIDER: ("prov", "Healthcare Provider"),
    OrganizationKind.PAYER: ("pay", "Payer"),
    OrganizationKind.DEPARTMENT: ("dept", "Hospital Department"),
    OrganizationKind.VENDOR: ("bus", "Non-Healthcare Business or Corporation"),
    OrganizationKind.CLEARINGHOUSE: ("other", "Clearinghouse"),
    OrganizationKind.OTHER: ("other", "Other"),
}


def _kind(resource: Json) -> OrganizationKind | None:
    """The first organization-type coding of ``Organization.type``."""
    for i, concept in enumerate(get_list(resource, "type", "Organization.type")):
        for coding in get_list(concept, "coding", f"Organization.type[{i}].coding"):
            if coding.get("system") == ORGANIZATION_TYPE and coding.get("code") in _FROM_CODE:
                if coding.get("display") == "Clearinghouse":
                    return OrganizationKind.CLEARINGHOUSE
                return _FROM_CODE[coding["code"]]
    return None


def organization_from_fhir(resource: Json, ctx: FhirMapContext) -> Organization:
    """FHIR Organization → canonical Organization."""
    resource = expect_resource(resource, "Organization")
    entity_id, kept = resource_id_from(resource, EntityType.ORGANIZATION, ctx)
    return build(
        Organization,
        ctx,
        "Organization",
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", "Organization.identifier"),
                "Organization.identifier",
                ctx,
            ),
            *kept,
        ],
        active=get_bool(resource, "active", "Organization.active"),
        name=get_str(resource, "name", "Organization.name"),
        kind=_kind(resource),
        addresses=many(
            get_list(resource, "address", "Organization.address"),
            "Organization.address",
            address_from,
        ),
        telecom=many(
            get_list(resource, "telecom", "Organization.telecom"),
            "Organization.telecom",
            telecom_from,
        ),
        part_of=ref_from(
            get_obj(resource, "partOf", "Organization.partOf"),
            "Organization.partOf",
            ctx,
            (EntityType.ORGANIZATION,),
        ),
    )


def organization_to_fhir(organization: Organization, ctx: FhirMapContext) -> Json:
    """Canonical Organization → FHIR Organization."""
    kind = _TO_CODE.get(organization.kind) if organization.kind else None
    return compact(
        {
            "resourceType": "Organization",
            "id": resource_id_to(
                organization.id, organization.identifiers, EntityType.ORGANIZATION, ctx
            ),
            "identifier": identifiers_to(organization.identifiers, ctx),
            "active": organization.active,
            "type": [
                {"coding": [{"system": ORGANIZATION_TYPE, "code": kind[0], "display": kind[1]}]}
            ]
            if kind
            else None,
            "name": organization.name,
            "telecom": [telecom_to(t) for t in organization.telecom],
            "address": [address_to(a) for a in organization.addresses],
            "partOf": ref_to(organization.part_of, ctx),
        }
    )


def _event(organization: Organization, previous: Organization | None) -> EventKind:
    return EventKind.ORGANIZATION_UPDATED


MAPPING = ResourceMapping(
    resource_type="Organization",
    entity_types=(EntityType.ORGANIZATION,),
    to_fhir=organization_to_fhir,
    from_fhir=organization_from_fhir,
    event_kind=_event,
    carried=(
        *leaf("Organization.id"),
        *identifier("Organization.identifier"),
        Carried("Organization.active", "boolean", compare=False),
        *leaf(f"Organization.type.coding.where(system='{ORGANIZATION_TYPE}').first().code"),
        *leaf("Organization.name"),
        *telecom("Organization.telecom"),
        *address("Organization.address"),
        *reference("Organization.partOf", ("Organization",)),
    ),
    notes=(
        "type: only the first organization-type coding is kept, as the kind; other type "
        "codings and codes outside the table are dropped. pay and ins both read as payer.",
        "alias, contact and endpoint are dropped.",
    ),
)
