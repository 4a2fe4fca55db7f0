"""FHIR Claim ↔ canonical Claim (meanings follow the X12 837).

``identifier[0].value`` ↔ ``patient_control_number`` (CLM01), ``type`` (claim-type) ↔
``kind`` (``fhir_claim_type.csv``), ``subType`` billtype (institutional, CMS bill type) ↔
``place_of_service`` + ``frequency_code`` (CLM05-1/-3), ``provider`` ↔ ``billing_provider``,
``careTeam[0]`` ↔ ``rendering_provider``, ``insurer`` ↔ ``payer``, ``facility`` ↔
``service_facility``, ``insurance[0]`` ``coverage``/``preAuthRef[0]`` ↔ ``coverage`` /
``prior_authorization``, ``diagnosis`` (codeable) ↔ ``diagnoses``, ``item`` ↔
``service_lines`` (SV1/SV2: productOrService, modifier, net = line charge, quantity,
serviced[x], locationCodeableConcept = place of service, diagnosisSequence, revenue),
``total`` ↔ ``total_charge``, the first ``item.encounter`` ↔ ``encounter``.

The answers to a claim are mapped in ``claim_response`` and ``explanation_of_benefit``.
"""

from __future__ import annotations

from typing import Any

from hub.canonical import (
    AdministrativeSex,
    Claim,
    ClaimKind,
    ClaimParty,
    Diagnosis,
    EntityType,
    EventKind,
    ServiceLine,
)
from hub.errors import MappingError, UnsupportedMessage
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import Carried, coded, identifier, leaf, money, period, reference
from mappings.fhir.claim_shared import (
    CLAIM_TYPE,
    ORGANIZATION,
    PATIENT,
    PROVIDER,
    first_identifier_value,
    payer_name,
    required,
)
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    address_from,
    coded_from,
    coded_to,
    compact,
    date_from,
    date_to,
    datetime_from,
    datetime_to,
    decimal_from,
    decimal_to,
    get_int,
    get_list,
    get_obj,
    get_str,
    many,
    money_from,
    money_to,
    name_from,
    period_from,
    period_to,
    telecom_from,
)
from mappings.fhir.references import (
    identifiers_from,
    identifiers_to,
    party_from,
    party_to,
    ref_from,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = ["MAPPING", "claim_from_fhir", "claim_to_fhir"]

BILL_TYPE = "https://www.cms.gov/codes/billtype"
_SEXES = {s.value for s in AdministrativeSex}


def _codes(obj: Json, key: str, path: str) -> list[str]:
    return [c.code for c in (coded_from(x, path) for x in get_list(obj, key, path)) if c and c.code]


# --------------------------------------------------------------------------- reading


def _kind(resource: Json, ctx: FhirMapContext) -> ClaimKind:
    concept = coded_from(get_obj(resource, "type", "Claim.type"), "Claim.type")
    code = concept.code if concept else None
    if code is None or code not in ctx.vocab.claim_kinds:
        raise MappingError(f"unknown claim type {code!r}", location="Claim.type")
    return ctx.vocab.claim_kinds[code]


def _bill_type(resource: Json) -> tuple[str | None, str | None]:
    """subType with the CMS bill type system: 2 digits facility type + 1 frequency code."""
    concept = get_obj(resource, "subType", "Claim.subType") or {}
    for coding in get_list(concept, "coding", "Claim.subType.coding"):
        code = coding.get("code")
        if coding.get("system") == BILL_TYPE and isinstance(code, str) and len(code) == 3:
            return code[:2], code[2]
    return None, None


def _diagnoses(resource: Json, key: str) -> list[Diagnosis]:
    found: list[Diagnosis] = []
    for i, obj in enumerate(get_list(resource, "diagnosis", f"{key}.diagnosis")):
        path = f"{key}.diagnosis[{i}]"
        code = coded_from(
            get_obj(obj, "diagnosisCodeableConcept", path), f"{path}.diagnosisCodeableConcept"
        )
        if code is None:
            continue  # a diagnosisReference (Condition) has no canonical home
        kinds, poa = (
            _codes(obj, "type", f"{path}.type"),
            coded_from(get_obj(obj, "onAdmission", f"{path}.onAdmission"), f"{path}.onAdmission"),
        )
        found.append(
            Diagnosis(
                code=code,
                sequence=get_int(obj, "sequence", f"{path}.sequence"),
                kind=kinds[0] if kinds else None,
                present_on_admission=poa.code if poa else None,
            )
        )
    return found


def _line(obj: Json, path: str) -> ServiceLine:
    quantity = get_obj(obj, "quantity", f"{path}.quantity") or {}
    place = coded_from(
        get_obj(obj, "locationCodeableConcept", path), f"{path}.locationCodeableConcept"
    )
    revenue = coded_from(get_obj(obj, "revenue", path), f"{path}.revenue")
    return ServiceLine(
        number=required(get_int(obj, "sequence", f"{path}.sequence"), f"{path}.sequence"),
        procedure=coded_from(get_obj(obj, "productOrService", path), f"{path}.productOrService"),
        revenue_code=revenue.code if revenue else None,
        modifiers=_codes(obj, "modifier", f"{path}.modifier"),
        charge=money_from(get_obj(obj, "net", f"{path}.net"), f"{path}.net"),
        units=decimal_from(quantity.get("value"), f"{path}.quantity.value"),
        unit_type=get_str(quantity, "unit", f"{path}.quantity.unit"),
        service_date=date_from(obj.get("servicedDate"), f"{path}.servicedDate"),
        service_period=period_from(get_obj(obj, "servicedPeriod", path), f"{path}.servicedPeriod"),
        place_of_service=place.code if place else None,
        diagnosis_pointers=[p for p in obj.get("diagnosisSequence") or [] if isinstance(p, int)],
    )


def _focal_insurance(resource: Json) -> Json:
    """The first insurance (sequence 1, the one the claim is sent to)."""
    entries = get_list(resource, "insurance", "Claim.insurance")
    return entries[0] if entries else {}


def _contained_party(resource: Json, reference: Json | None, path: str) -> ClaimParty | None:
    """A ``#id`` reference to a contained Patient → the party as the claim names it (2010BA
    meaning: name, birth date, sex, address), with no ref."""
    target = (reference or {}).get("reference")
    if not isinstance(target, str) or not target.startswith("#"):
        return None
    for i, item in enumerate(get_list(resource, "contained", f"{path}.contained")):
        if item.get("id") == target[1:] and item.get("resourceType") == "Patient":
            at = f"Claim.contained[{i}]"
            names = many(get_list(item, "name", f"{at}.name"), f"{at}.name", name_from)
            addresses = many(
                get_list(item, "address", f"{at}.address"), f"{at}.address", address_from
            )
            gender = get_str(item, "gender", f"{at}.gender")
            return ClaimParty(
                name=names[0] if names else None,
                birth_date=date_from(item.get("birthDate"), f"{at}.birthDate"),
                sex=AdministrativeSex(gender) if gender in _SEXES else None,
                address=addresses[0] if addresses else None,
            )
    return None


_PROVIDER_TYPES = ("Organization", "Practitioner", "PractitionerRole")


def _contained(resource: Json, reference: Json | None, path: str) -> tuple[int, Json] | None:
    """The contained resource a ``#id`` reference names, with its index."""
    target = (reference or {}).get("reference")
    if not isinstance(target, str) or not target.startswith("#"):
        return None
    for i, item in enumerate(get_list(resource, "contained", f"{path}.contained")):
        if item.get("id") == target[1:]:
            return i, item
    raise MappingError(
        f"the reference {target} names no contained resource", location=f"{path}.reference"
    )


def _contained_provider(
    resource: Json, reference: Json | None, path: str, ctx: FhirMapContext
) -> ClaimParty | None:
    """A ``#id`` reference to a contained Organization, Practitioner or PractitionerRole →
    the party as the claim names it (its identifiers — the NPI —, name, address, telecom),
    with no ref. A contained role is read as the practitioner it names (itself contained, or
    a reference the hub resolves), else by its own identifiers."""
    found = _contained(resource, reference, path)
    if found is None:
        return None
    i, item = found
    at = f"Claim.contained[{i}]"
    rtype = item.get("resourceType")
    if rtype not in _PROVIDER_TYPES:
        raise MappingError(
            f"{path} names a contained {rtype}; a provider is an Organization, a "
            "Practitioner or a PractitionerRole",
            location=path,
        )
    idents = identifiers_from(
        get_list(item, "identifier", f"{at}.identifier"), f"{at}.identifier", ctx
    )
    if rtype == "PractitionerRole":
        named = get_obj(item, "practitioner", f"{at}.practitioner")
        inner = _contained_provider(resource, named, f"{at}.practitioner", ctx) or party_from(
            named, f"{at}.practitioner", ctx, (EntityType.PRACTITIONER,)
        )
        if inner is not None:
            return inner.model_copy(update={"identifiers": [*inner.identifiers, *idents]})
        return ClaimParty(identifiers=idents)
    addresses = many(get_list(item, "address", f"{at}.address"), f"{at}.address", address_from)
    telecom = many(get_list(item, "telecom", f"{at}.telecom"), f"{at}.telecom", telecom_from)
    names = (
        many(get_list(item, "name", f"{at}.name"), f"{at}.name", name_from)
        if rtype == "Practitioner"
        else []
    )
    return ClaimParty(
        organization_name=get_str(item, "name", f"{at}.name") if rtype == "Organization" else None,
        name=names[0] if names else None,
        identifiers=idents,
        address=addresses[0] if addresses else None,
        telecom=telecom,
    )


def _provider(
    resource: Json, obj: Json, key: str, path: str, ctx: FhirMapContext, allowed: Any
) -> ClaimParty | None:
    """A provider reference (``obj[key]``) of the claim ``resource``: a literal, conditional
    or logical reference (resolved later, through the store), or a contained resource."""
    reference = get_obj(obj, key, f"{path}.{key}")
    literal = (reference or {}).get("reference")
    if isinstance(literal, str) and literal.startswith("PractitionerRole"):
        # a role is its practitioner here: the hub gives a role its practitioner's id
        reference = {**(reference or {}), "reference": "Practitioner" + literal[16:]}
    return party_from(reference, f"{path}.{key}", ctx, allowed) or _contained_provider(
        resource, reference, f"{path}.{key}", ctx
    )


def _first_encounter(resource: Json, ctx: FhirMapContext) -> Any:
    for i, item in enumerate(get_list(resource, "item", "Claim.item")):
        for j, ref in enumerate(get_list(item, "encounter", f"Claim.item[{i}].encounter")):
            found = ref_from(ref, f"Claim.item[{i}].encounter[{j}]", ctx, (EntityType.ENCOUNTER,))
            if found is not None:
                return found
    return None


def _party(obj: Json, key: str, path: str, ctx: FhirMapContext, allowed: Any) -> ClaimParty | None:
    return party_from(get_obj(obj, key, f"{path}.{key}"), f"{path}.{key}", ctx, allowed)


def _claim_parties(resource: Json, ctx: FhirMapContext) -> dict[str, ClaimParty | None]:
    """provider (2010AA), careTeam[0] (2310B), facility (2310C), patient, insurer (2010BB)."""
    care_team = get_list(resource, "careTeam", "Claim.careTeam")
    patient = _party(resource, "patient", "Claim", ctx, PATIENT) or _contained_party(
        resource, get_obj(resource, "patient", "Claim.patient"), "Claim"
    )
    return {
        "billing_provider": _provider(resource, resource, "provider", "Claim", ctx, PROVIDER),
        "rendering_provider": _provider(
            resource, care_team[0], "provider", "Claim.careTeam[0]", ctx, PROVIDER[::-1]
        )
        if care_team
        else None,
        "service_facility": _party(resource, "facility", "Claim", ctx, (EntityType.LOCATION,)),
        "patient": patient,
        "payer": _party(resource, "insurer", "Claim", ctx, ORGANIZATION),
    }


def _insurance_fields(resource: Json, ctx: FhirMapContext) -> dict[str, Any]:
    insurance = _focal_insurance(resource)
    auths = insurance.get("preAuthRef") or []
    coverage = get_obj(insurance, "coverage", "Claim.insurance.coverage")
    return {
        "coverage": ref_from(coverage, "Claim.insurance.coverage", ctx, (EntityType.COVERAGE,)),
        "prior_authorization": auths[0] if auths and isinstance(auths[0], str) else None,
    }


def claim_from_fhir(resource: Json, ctx: FhirMapContext) -> Claim:
    """FHIR Claim (use = claim) → canonical Claim."""
    resource = expect_resource(resource, "Claim")
    if resource.get("use", "claim") != "claim":
        raise UnsupportedMessage(
            f"Claim.use {resource.get('use')!r}: only claims are mapped "
            "(no preauthorization/predetermination)",
            location="Claim.use",
        )
    entity_id, kept = resource_id_from(resource, EntityType.CLAIM, ctx)
    facility_code, frequency = _bill_type(resource)
    items = get_list(resource, "item", "Claim.item")
    return build(
        Claim,
        ctx,
        "Claim",
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", "Claim.identifier"), "Claim.identifier", ctx
            ),
            *kept,
        ],
        kind=_kind(resource, ctx),
        status=get_str(resource, "status", "Claim.status"),
        patient_control_number=first_identifier_value(resource, "Claim", ctx),
        total_charge=money_from(get_obj(resource, "total", "Claim.total"), "Claim.total"),
        place_of_service=facility_code,
        frequency_code=frequency,
        **_claim_parties(resource, ctx),
        **_insurance_fields(resource, ctx),
        encounter=_first_encounter(resource, ctx),
        service_period=period_from(
            get_obj(resource, "billablePeriod", "Claim.billablePeriod"), "Claim.billablePeriod"
        ),
        diagnoses=_diagnoses(resource, "Claim"),
        service_lines=[_line(o, f"Claim.item[{i}]") for i, o in enumerate(items)],
        created=datetime_from(resource.get("created"), "Claim.created"),
    )


# --------------------------------------------------------------------------- writing


def _diagnosis_to(diagnosis: Diagnosis, number: int) -> Json:
    return compact(
        {
            "sequence": diagnosis.sequence or number,
            "diagnosisCodeableConcept": coded_to(diagnosis.code),
            "type": [{"coding": [{"code": diagnosis.kind}]}] if diagnosis.kind else None,
            "onAdmission": {"coding": [{"code": diagnosis.present_on_admission}]}
            if diagnosis.present_on_admission
            else None,
        }
    )


def _serviced(line: ServiceLine, ctx: FhirMapContext) -> Json:
    """serviced[x] is a choice: the period when the line has one (an 837 DTP*472*RD8 is read
    as the period plus its first day as the date), else the date; as the 837 writes it."""
    period = period_to(line.service_period, ctx)
    return {"servicedPeriod": period} if period else {"servicedDate": date_to(line.service_date)}


def _line_to(line: ServiceLine, encounter: Json | None, ctx: FhirMapContext) -> Json:
    # productOrService is 1..1: a line known only by revenue code names it in text
    product = coded_to(line.procedure) or {"text": f"revenue code {line.revenue_code}"}
    return compact(
        {
            "sequence": line.number,
            "diagnosisSequence": list(line.diagnosis_pointers),
            "revenue": {"coding": [{"code": line.revenue_code}]} if line.revenue_code else None,
            "productOrService": product,
            "modifier": [{"coding": [{"code": m}]} for m in line.modifiers],
            **_serviced(line, ctx),
            "locationCodeableConcept": {"coding": [{"code": line.place_of_service}]}
            if line.place_of_service
            else None,
            "quantity": compact({"value": decimal_to(line.units), "unit": line.unit_type}),
            "net": money_to(line.charge),
            "encounter": [encounter] if encounter else None,
        }
    )


def _claim_identifiers(claim: Claim, ctx: FhirMapContext) -> list[Json]:
    out = identifiers_to(claim.identifiers, ctx)
    pcn = claim.patient_control_number
    if pcn and all(i.value != pcn for i in claim.identifiers):
        out.insert(0, {"system": ctx.system_uri("CLM01"), "value": pcn})
    return out


def _insurance_to(claim: Claim, ctx: FhirMapContext) -> Json:
    coverage = ref_to(claim.coverage, ctx) or {"display": payer_name(claim.payer)}
    return compact(
        {
            "sequence": 1,
            "focal": True,
            "coverage": coverage,
            "preAuthRef": [claim.prior_authorization] if claim.prior_authorization else None,
        }
    )


def _sub_type(claim: Claim) -> Json | None:
    if claim.kind is not ClaimKind.INSTITUTIONAL or not (
        claim.place_of_service and claim.frequency_code
    ):
        return None
    return {
        "coding": [{"system": BILL_TYPE, "code": f"{claim.place_of_service}{claim.frequency_code}"}]
    }


def claim_to_fhir(claim: Claim, ctx: FhirMapContext) -> Json:
    """Canonical Claim → FHIR Claim (created, provider and insurance are 1..1/1..*)."""
    encounter = ref_to(claim.encounter, ctx)
    rendering = party_to(claim.rendering_provider, EntityType.PRACTITIONER, ctx)
    return compact(
        {
            "resourceType": "Claim",
            "id": resource_id_to(claim.id, claim.identifiers, EntityType.CLAIM, ctx),
            "identifier": _claim_identifiers(claim, ctx),
            "status": claim.status,
            "type": {
                "coding": [{"system": CLAIM_TYPE, "code": ctx.vocab.claim_type_for(claim.kind)}]
            },
            "subType": _sub_type(claim),
            "use": "claim",
            "patient": required(party_to(claim.patient, EntityType.PATIENT, ctx), "Claim.patient"),
            "billablePeriod": period_to(claim.service_period, ctx),
            "created": required(datetime_to(claim.created, ctx), "Claim.created"),
            "insurer": party_to(claim.payer, EntityType.ORGANIZATION, ctx),
            "provider": required(
                party_to(claim.billing_provider, EntityType.ORGANIZATION, ctx), "Claim.provider"
            ),
            "priority": {"coding": [{"code": "normal"}]},
            "facility": party_to(claim.service_facility, EntityType.LOCATION, ctx),
            "careTeam": [{"sequence": 1, "provider": rendering}] if rendering else None,
            "diagnosis": [_diagnosis_to(d, n) for n, d in enumerate(claim.diagnoses, start=1)],
            "insurance": [_insurance_to(claim, ctx)],
            "item": [
                _line_to(line, encounter if n == 0 else None, ctx)
                for n, line in enumerate(claim.service_lines)
            ],
            "total": money_to(claim.total_charge),
        }
    )


# --------------------------------------------------------------------------- registry entry


def _submitted(claim: Claim, previous: Claim | None) -> EventKind:
    return EventKind.CLAIM_SUBMITTED


_ITEM = "Claim.item"
_FOCAL = "Claim.insurance.first()"


CLAIM_CARRIED = (
    *leaf("Claim.id"),
    *identifier("Claim.identifier"),
    *leaf("Claim.status"),
    # compared by unit tests instead: vision is read as professional and written so
    Carried(f"Claim.type.coding.where(system='{CLAIM_TYPE}').code", compare=False),
    *leaf(f"Claim.subType.coding.where(system='{BILL_TYPE}').code"),
    *reference("Claim.patient", ("Patient",), filled=True),
    *period("Claim.billablePeriod"),
    *leaf("Claim.created", "datetime"),
    *reference("Claim.insurer", ("Organization",)),
    *reference("Claim.provider", ("Organization", "Practitioner")),
    *reference("Claim.facility", ("Location",)),
    *reference("Claim.careTeam.first().provider", ("Practitioner", "Organization")),
    *leaf("Claim.diagnosis.where(diagnosisCodeableConcept.exists()).sequence", "integer"),
    *coded("Claim.diagnosis.diagnosisCodeableConcept"),
    *reference(f"{_FOCAL}.coverage", ("Coverage",), filled=True),
    *leaf(f"{_FOCAL}.preAuthRef.first()"),
    *leaf(f"{_ITEM}.sequence", "integer"),
    *leaf(f"{_ITEM}.diagnosisSequence", "integer"),
    *leaf(f"{_ITEM}.select(revenue.coding.first()).code"),
    *coded(f"{_ITEM}.productOrService"),
    *leaf(f"{_ITEM}.modifier.select(coding.first()).code"),
    *leaf(f"{_ITEM}.servicedDate", "date"),
    *period(f"{_ITEM}.servicedPeriod"),
    *leaf(f"{_ITEM}.select(locationCodeableConcept.coding.first()).code"),
    *leaf(f"{_ITEM}.quantity.value", "decimal"),
    *leaf(f"{_ITEM}.quantity.unit"),
    *money(f"{_ITEM}.net"),
    *reference(f"{_ITEM}.encounter.first()", ("Encounter",)),
    *money("Claim.total"),
)

MAPPING = ResourceMapping(
    resource_type="Claim",
    entity_types=(EntityType.CLAIM,),
    to_fhir=claim_to_fhir,
    from_fhir=claim_from_fhir,
    event_kind=_submitted,
    carried=CLAIM_CARRIED,
    notes=(
        "use preauthorization/predetermination → UnsupportedMessage.",
        "type vision reads as professional (the 837P form) and is written back so.",
        "diagnosisReference (a Condition), procedure, supportingInfo, accident, related, "
        "payee, referral, enterer, prescription, priority, fundsReserve and item "
        "unitPrice/factor/detail/bodySite/udi are dropped; priority is written normal.",
        "Only the first careTeam member (rendering provider), the first insurance and the "
        "first item.encounter are kept.",
    ),
)
