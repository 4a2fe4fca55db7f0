"""FHIR Practitioner and PractitionerRole ↔ canonical Practitioner (STF/PRA meanings).

Practitioner carries the person and ``qualification`` ↔ ``credentials``. FHIR R4 has no place
for a credential's kind, jurisdiction or status, so they travel in three Carehub extensions on
``Practitioner.qualification`` (``urn:carehub:fhir:extension:credential-kind`` (valueCode),
``…:credential-jurisdiction`` (valueString), ``…:credential-status`` (valueCode)); a
qualification without them reads as a certification.

PractitionerRole has no canonical entity: it is read as a *partial* Practitioner (the one its
``practitioner`` reference names) carrying only ``roles`` (``code``), ``specialties``
(``specialty``) and ``organization``; ``RecordMeta.field_sources`` lists exactly those so the
sync engine merges instead of overwriting. Written back, a Practitioner's roles, specialties
and organization make one PractitionerRole (no id of its own).
"""

from __future__ import annotations

from hub.canonical import (
    AdministrativeSex,
    Credential,
    CredentialKind,
    EntityType,
    EventKind,
    Practitioner,
    Ref,
)
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import (
    Carried,
    address,
    coded,
    identifier,
    leaf,
    name,
    reference,
    telecom,
)
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    address_from,
    address_to,
    coded_from,
    coded_to,
    compact,
    date_from,
    date_to,
    get_bool,
    get_list,
    get_obj,
    get_str,
    many,
    name_from,
    name_to,
    telecom_from,
    telecom_to,
)
from mappings.fhir.references import (
    identifier_from,
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = [
    "CREDENTIAL_EXTENSION",
    "MAPPINGS",
    "practitioner_from_fhir",
    "practitioner_role_from_fhir",
    "practitioner_role_to_fhir",
    "practitioner_to_fhir",
]

CREDENTIAL_EXTENSION = "urn:carehub:fhir:extension:credential-"
_KIND, _JURISDICTION, _STATUS = (
    CREDENTIAL_EXTENSION + s for s in ("kind", "jurisdiction", "status")
)
_ORG = (EntityType.ORGANIZATION,)


# --------------------------------------------------------------------------- Practitioner


def _extension_value(obj: Json, url: str, key: str, path: str) -> str | None:
    for i, ext in enumerate(get_list(obj, "extension", f"{path}.extension")):
        if ext.get("url") == url:
            return get_str(ext, key, f"{path}.extension[{i}].{key}")
    return None


def _kind(obj: Json, path: str) -> CredentialKind:
    value = _extension_value(obj, _KIND, "valueCode", path)
    try:
        return CredentialKind(value) if value else CredentialKind.CERTIFICATION
    except ValueError as exc:
        raise MappingError(
            f"unknown credential kind {value!r}", location=f"{path}.extension"
        ) from exc


def _credential_from(obj: Json, path: str, ctx: FhirMapContext) -> Credential:
    """Practitioner.qualification → Credential (number = first identifier's value)."""
    numbers = identifier_from(
        next(iter(get_list(obj, "identifier", f"{path}.identifier")), {}),
        f"{path}.identifier[0]",
        ctx,
    )
    period = get_obj(obj, "period", f"{path}.period") or {}
    issuer = get_obj(obj, "issuer", f"{path}.issuer") or {}
    return Credential(
        kind=_kind(obj, path),
        code=coded_from(get_obj(obj, "code", f"{path}.code"), f"{path}.code"),
        number=numbers.value if numbers else None,
        issuer=get_str(issuer, "display", f"{path}.issuer.display"),
        jurisdiction=_extension_value(obj, _JURISDICTION, "valueString", path),
        issued=date_from(period.get("start"), f"{path}.period.start"),
        expires=date_from(period.get("end"), f"{path}.period.end"),
        status=_extension_value(obj, _STATUS, "valueCode", path),
    )


def _sex(resource: Json, path: str) -> AdministrativeSex | None:
    gender = get_str(resource, "gender", path)
    try:
        return AdministrativeSex(gender) if gender else None
    except ValueError as exc:
        raise MappingError(f"unknown administrative gender {gender!r}", location=path) from exc


def practitioner_from_fhir(resource: Json, ctx: FhirMapContext) -> Practitioner:
    """FHIR Practitioner → canonical Practitioner."""
    resource = expect_resource(resource, "Practitioner")
    entity_id, kept = resource_id_from(resource, EntityType.PRACTITIONER, ctx)
    qualifications = get_list(resource, "qualification", "Practitioner.qualification")
    return build(
        Practitioner,
        ctx,
        "Practitioner",
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", "Practitioner.identifier"),
                "Practitioner.identifier",
                ctx,
            ),
            *kept,
        ],
        active=get_bool(resource, "active", "Practitioner.active"),
        names=many(get_list(resource, "name", "Practitioner.name"), "Practitioner.name", name_from),
        telecom=many(
            get_list(resource, "telecom", "Practitioner.telecom"),
            "Practitioner.telecom",
            telecom_from,
        ),
        addresses=many(
            get_list(resource, "address", "Practitioner.address"),
            "Practitioner.address",
            address_from,
        ),
        sex=_sex(resource, "Practitioner.gender"),
        birth_date=date_from(resource.get("birthDate"), "Practitioner.birthDate"),
        credentials=[
            _credential_from(q, f"Practitioner.qualification[{i}]", ctx)
            for i, q in enumerate(qualifications)
        ],
    )


def _credential_extensions(credential: Credential) -> list[Json]:
    parts = [
        (_KIND, "valueCode", credential.kind.value),
        (_JURISDICTION, "valueString", credential.jurisdiction),
        (_STATUS, "valueCode", credential.status),
    ]
    return [{"url": url, key: value} for url, key, value in parts if value]


def _credential_to(credential: Credential) -> Json:
    period = compact({"start": date_to(credential.issued), "end": date_to(credential.expires)})
    # qualification.code is 1..1 in R4: a credential without a code says what it is in text
    code = coded_to(credential.code) or {"text": credential.kind.value}
    return compact(
        {
            "extension": _credential_extensions(credential),
            "identifier": [{"value": credential.number}] if credential.number else None,
            "code": code,
            "period": period,
            "issuer": {"display": credential.issuer} if credential.issuer else None,
        }
    )


def practitioner_to_fhir(practitioner: Practitioner, ctx: FhirMapContext) -> Json:
    """Canonical Practitioner → FHIR Practitioner (roles etc. go to PractitionerRole)."""
    return compact(
        {
            "resourceType": "Practitioner",
            "id": resource_id_to(
                practitioner.id, practitioner.identifiers, EntityType.PRACTITIONER, ctx
            ),
            "identifier": identifiers_to(practitioner.identifiers, ctx),
            "active": practitioner.active,
            "name": [name_to(n) for n in practitioner.names],
            "telecom": [telecom_to(t) for t in practitioner.telecom],
            "address": [address_to(a) for a in practitioner.addresses],
            "gender": practitioner.sex.value if practitioner.sex else None,
            "birthDate": date_to(practitioner.birth_date),
            "qualification": [_credential_to(c) for c in practitioner.credentials],
        }
    )


# --------------------------------------------------------------------------- PractitionerRole


def practitioner_role_from_fhir(resource: Json, ctx: FhirMapContext) -> Practitioner:
    """FHIR PractitionerRole → partial canonical Practitioner (roles, specialties, organization)."""
    resource = expect_resource(resource, "PractitionerRole")
    who = ref_from(
        get_obj(resource, "practitioner", "PractitionerRole.practitioner"),
        "PractitionerRole.practitioner",
        ctx,
        (EntityType.PRACTITIONER,),
    )
    if who is None:
        raise MappingError(
            "a role must name its practitioner to be kept", location="PractitionerRole.practitioner"
        )
    return build(
        Practitioner,
        ctx,
        "PractitionerRole",
        id=who.id,
        identifiers=who.identifiers,
        roles=many(
            get_list(resource, "code", "PractitionerRole.code"), "PractitionerRole.code", coded_from
        ),
        specialties=many(
            get_list(resource, "specialty", "PractitionerRole.specialty"),
            "PractitionerRole.specialty",
            coded_from,
        ),
        organization=ref_from(
            get_obj(resource, "organization", "PractitionerRole.organization"),
            "PractitionerRole.organization",
            ctx,
            _ORG,
        ),
    )


def practitioner_role_to_fhir(practitioner: Practitioner, ctx: FhirMapContext) -> Json:
    """Canonical Practitioner → the PractitionerRole holding its roles and specialties."""
    who = ref_to(
        Ref(type=EntityType.PRACTITIONER, id=practitioner.id, identifiers=practitioner.identifiers),
        ctx,
    )
    return compact(
        {
            "resourceType": "PractitionerRole",
            "practitioner": who,
            "organization": ref_to(practitioner.organization, ctx),
            "code": [c for c in (coded_to(r) for r in practitioner.roles) if c],
            "specialty": [c for c in (coded_to(s) for s in practitioner.specialties) if c],
        }
    )


# --------------------------------------------------------------------------- registry entries


def _event(practitioner: Practitioner, previous: Practitioner | None) -> EventKind:
    if not practitioner.active and (previous is None or previous.active):
        return EventKind.PRACTITIONER_DEACTIVATED
    return EventKind.PRACTITIONER_UPDATED


def _role_event(practitioner: Practitioner, previous: Practitioner | None) -> EventKind:
    return EventKind.PRACTITIONER_UPDATED


_QUALIFICATION = "Practitioner.qualification"

PRACTITIONER_CARRIED = (
    *leaf("Practitioner.id"),
    *identifier("Practitioner.identifier"),
    Carried("Practitioner.active", "boolean", compare=False),
    *name("Practitioner.name"),
    *telecom("Practitioner.telecom"),
    *address("Practitioner.address"),
    *leaf("Practitioner.gender"),
    *leaf("Practitioner.birthDate", "date"),
    *leaf(f"{_QUALIFICATION}.select(identifier.first()).value"),
    *coded(f"{_QUALIFICATION}.code"),
    *leaf(f"{_QUALIFICATION}.period.start", "date"),
    *leaf(f"{_QUALIFICATION}.period.end", "date"),
    *leaf(f"{_QUALIFICATION}.issuer.display"),
    # absent reads as certification and is always written
    Carried(f"{_QUALIFICATION}.extension.where(url='{_KIND}').valueCode", compare=False),
    *leaf(f"{_QUALIFICATION}.extension.where(url='{_JURISDICTION}').valueString"),
    *leaf(f"{_QUALIFICATION}.extension.where(url='{_STATUS}').valueCode"),
)

_ROLE_PRACTITIONER = reference("PractitionerRole.practitioner", ("Practitioner",))

ROLE_CARRIED = (
    *(c for c in _ROLE_PRACTITIONER if not c.path.endswith(".display")),
    *reference("PractitionerRole.organization", ("Organization",)),
    *coded("PractitionerRole.code"),
    *coded("PractitionerRole.specialty"),
)

MAPPINGS = (
    ResourceMapping(
        resource_type="Practitioner",
        entity_types=(EntityType.PRACTITIONER,),
        to_fhir=practitioner_to_fhir,
        from_fhir=practitioner_from_fhir,
        event_kind=_event,
        carried=PRACTITIONER_CARRIED,
        notes=(
            "qualification → credentials; kind/jurisdiction/status travel in Carehub "
            "extensions (urn:carehub:fhir:extension:credential-*); without them a "
            "qualification reads as a certification.",
            "qualification.period is read as dates: a time of day or a partial date is dropped.",
            "roles, specialties and organization are written as a PractitionerRole.",
        ),
    ),
    ResourceMapping(
        resource_type="PractitionerRole",
        entity_types=(EntityType.PRACTITIONER,),
        to_fhir=practitioner_role_to_fhir,
        from_fhir=practitioner_role_from_fhir,
        event_kind=_role_event,
        carried=ROLE_CARRIED,
        notes=(
            "No canonical entity: read as a partial Practitioner (the one `practitioner` "
            "names) with only roles, specialties and organization set (see field_sources).",
            "The role's own id, identifiers, period, location, telecom and availability are "
            "dropped; practitioner.display is dropped (not parsed into a name).",
        ),
    ),
)
