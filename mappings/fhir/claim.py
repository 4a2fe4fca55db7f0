"""FHIR Claim ↔ canonical Claim; ClaimResponse / ExplanationOfBenefit ↔ Remittance (or
ClaimStatus). Meanings follow X12 837 (Claim) and 835/277 (answers).

Claim: ``identifier[0].value`` ↔ ``patient_control_number`` (CLM01), ``type`` (claim-type) ↔
``kind`` (``fhir_claim_type.csv``), ``subType`` billtype (institutional, CMS bill type) ↔
``place_of_service`` + ``frequency_code`` (CLM05-1/-3), ``provider`` ↔ ``billing_provider``,
``careTeam[0]`` ↔ ``rendering_provider``, ``insurer`` ↔ ``payer``, ``facility`` ↔
``service_facility``, ``insurance[0]`` ``coverage``/``preAuthRef[0]`` ↔ ``coverage`` /
``prior_authorization``, ``diagnosis`` (codeable) ↔ ``diagnoses``, ``item`` ↔
``service_lines`` (SV1/SV2: productOrService, modifier, net = line charge, quantity,
serviced[x], locationCodeableConcept = place of service, diagnosisSequence, revenue),
``total`` ↔ ``total_charge``, the first ``item.encounter`` ↔ ``encounter``.

ClaimResponse / ExplanationOfBenefit with outcome complete or partial → Remittance (CLP):
``request``/``claim`` ↔ ``claim``, ``identifier[0].value`` ↔ ``payer_claim_control_number``
(CLP07), ``total`` submitted/benefit/paidbypatient ↔ ``total_charge``/``paid``/
``patient_responsibility``, ``adjudication`` and ``item.adjudication`` ↔ ``adjustments``
(group/reason: X12 CAS; base categories deductible = PR-1, copay = PR-3), ``payment`` ↔
``payment_amount``/``payment_date``/``trace_number``. CLP02 travels in the extension
``urn:carehub:fhir:extension:claim-status-code``; "4" marks a denial. A ClaimResponse with
outcome queued or error → ClaimStatus (277CA meaning: accepted when queued).
"""

from __future__ import annotations

from typing import Any

from hub.canonical import (
    Adjustment,
    AdministrativeSex,
    Claim,
    ClaimKind,
    ClaimParty,
    ClaimStatus,
    Diagnosis,
    EntityType,
    EventKind,
    Money,
    Remittance,
    ServiceLine,
    ServiceLinePayment,
)
from hub.errors import MappingError, UnsupportedMessage
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import Carried, coded, identifier, leaf, money, period, reference
from mappings.fhir.context import MapContext
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
)
from mappings.fhir.references import (
    identifier_from,
    identifiers_from,
    identifiers_to,
    party_from,
    party_to,
    ref_from,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = [
    "MAPPINGS",
    "claim_from_fhir",
    "claim_response_from_fhir",
    "claim_response_to_fhir",
    "claim_to_fhir",
    "eob_from_fhir",
    "eob_to_fhir",
]

CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
BILL_TYPE = "https://www.cms.gov/codes/billtype"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CARIN_ADJUDICATION = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
CAS_GROUP = "https://x12.org/codes/claim-adjustment-group-codes"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
STATUS_EXTENSION = "urn:carehub:fhir:extension:claim-status-code"
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
UNKNOWN_COVERAGE = "coverage not kept by carehub"
_BASE_ADJUSTMENTS = {"deductible": ("PR", "1"), "copay": ("PR", "3")}
_PATIENT = (EntityType.PATIENT,)
_PROVIDER = (EntityType.ORGANIZATION, EntityType.PRACTITIONER)
_ORG = (EntityType.ORGANIZATION,)
_SEXES = {s.value for s in AdministrativeSex}


def _first_value(resource: Json, path: str, ctx: MapContext) -> str | None:
    items = get_list(resource, "identifier", f"{path}.identifier")
    found = identifier_from(items[0], f"{path}.identifier[0]", ctx) if items else None
    return found.value if found else None


def _required(value: Any, location: str) -> Any:
    if value is None:
        raise MappingError("required by FHIR but not known for this record", location=location)
    return value


def _codes(obj: Json, key: str, path: str) -> list[str]:
    return [c.code for c in (coded_from(x, path) for x in get_list(obj, key, path)) if c and c.code]


# --------------------------------------------------------------------------- Claim: reading


def _kind(resource: Json, ctx: MapContext) -> ClaimKind:
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
        number=_required(get_int(obj, "sequence", f"{path}.sequence"), f"{path}.sequence"),
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


def _first_encounter(resource: Json, ctx: MapContext) -> Any:
    for i, item in enumerate(get_list(resource, "item", "Claim.item")):
        for j, ref in enumerate(get_list(item, "encounter", f"Claim.item[{i}].encounter")):
            found = ref_from(ref, f"Claim.item[{i}].encounter[{j}]", ctx, (EntityType.ENCOUNTER,))
            if found is not None:
                return found
    return None


def _party(obj: Json, key: str, path: str, ctx: MapContext, allowed: Any) -> ClaimParty | None:
    return party_from(get_obj(obj, key, f"{path}.{key}"), f"{path}.{key}", ctx, allowed)


def _claim_parties(resource: Json, ctx: MapContext) -> dict[str, ClaimParty | None]:
    """provider (2010AA), careTeam[0] (2310B), facility (2310C), patient, insurer (2010BB)."""
    care_team = get_list(resource, "careTeam", "Claim.careTeam")
    patient = _party(resource, "patient", "Claim", ctx, _PATIENT) or _contained_party(
        resource, get_obj(resource, "patient", "Claim.patient"), "Claim"
    )
    return {
        "billing_provider": _party(resource, "provider", "Claim", ctx, _PROVIDER),
        "rendering_provider": _party(
            care_team[0], "provider", "Claim.careTeam[0]", ctx, _PROVIDER[::-1]
        )
        if care_team
        else None,
        "service_facility": _party(resource, "facility", "Claim", ctx, (EntityType.LOCATION,)),
        "patient": patient,
        "payer": _party(resource, "insurer", "Claim", ctx, _ORG),
    }


def _insurance_fields(resource: Json, ctx: MapContext) -> dict[str, Any]:
    insurance = _focal_insurance(resource)
    auths = insurance.get("preAuthRef") or []
    coverage = get_obj(insurance, "coverage", "Claim.insurance.coverage")
    return {
        "coverage": ref_from(coverage, "Claim.insurance.coverage", ctx, (EntityType.COVERAGE,)),
        "prior_authorization": auths[0] if auths and isinstance(auths[0], str) else None,
    }


def claim_from_fhir(resource: Json, ctx: MapContext) -> Claim:
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
        patient_control_number=_first_value(resource, "Claim", ctx),
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


# --------------------------------------------------------------------------- Claim: writing


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


def _line_to(line: ServiceLine, encounter: Json | None, ctx: MapContext) -> Json:
    # productOrService is 1..1: a line known only by revenue code names it in text
    product = coded_to(line.procedure) or {"text": f"revenue code {line.revenue_code}"}
    return compact(
        {
            "sequence": line.number,
            "diagnosisSequence": list(line.diagnosis_pointers),
            "revenue": {"coding": [{"code": line.revenue_code}]} if line.revenue_code else None,
            "productOrService": product,
            "modifier": [{"coding": [{"code": m}]} for m in line.modifiers],
            "servicedDate": date_to(line.service_date),
            "servicedPeriod": period_to(line.service_period, ctx),
            "locationCodeableConcept": {"coding": [{"code": line.place_of_service}]}
            if line.place_of_service
            else None,
            "quantity": compact({"value": decimal_to(line.units), "unit": line.unit_type}),
            "net": money_to(line.charge),
            "encounter": [encounter] if encounter else None,
        }
    )


def _claim_identifiers(claim: Claim, ctx: MapContext) -> list[Json]:
    out = identifiers_to(claim.identifiers, ctx)
    pcn = claim.patient_control_number
    if pcn and all(i.value != pcn for i in claim.identifiers):
        out.insert(0, {"system": ctx.system_uri("CLM01"), "value": pcn})
    return out


def _payer_name(payer: ClaimParty | None) -> str:
    """A display for a required Coverage reference the canonical record cannot fill."""
    name = (payer.ref.display if payer and payer.ref else None) or (
        payer.organization_name if payer else None
    )
    return name or UNKNOWN_COVERAGE


def _insurance_to(claim: Claim, ctx: MapContext) -> Json:
    coverage = ref_to(claim.coverage, ctx) or {"display": _payer_name(claim.payer)}
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


def claim_to_fhir(claim: Claim, ctx: MapContext) -> Json:
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
            "patient": _required(party_to(claim.patient, EntityType.PATIENT, ctx), "Claim.patient"),
            "billablePeriod": period_to(claim.service_period, ctx),
            "created": _required(datetime_to(claim.created, ctx), "Claim.created"),
            "insurer": party_to(claim.payer, EntityType.ORGANIZATION, ctx),
            "provider": _required(
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


# --------------------------------------------------------------------------- answers: reading


def _adjustment(entry: Json, path: str) -> tuple[str, Any]:
    """One adjudication → ("submitted"|"benefit"|…, Money) or ("adjustment", Adjustment)."""
    category = coded_from(get_obj(entry, "category", path), f"{path}.category")
    amount = money_from(get_obj(entry, "amount", f"{path}.amount"), f"{path}.amount")
    code = category.code if category else None
    if category and category.system == CAS_GROUP and amount is not None and code:
        reason = coded_from(get_obj(entry, "reason", path), f"{path}.reason")
        carc = reason.code if reason and reason.code else ""
        return "adjustment", Adjustment(group=code, reason=carc, amount=amount)
    if code in _BASE_ADJUSTMENTS and amount is not None:
        group, carc = _BASE_ADJUSTMENTS[code]
        return "adjustment", Adjustment(group=group, reason=carc, amount=amount)
    return code or "", amount


def _adjudication(obj: Json, path: str) -> tuple[dict[str, Money], list[Adjustment]]:
    totals: dict[str, Money] = {}
    adjustments: list[Adjustment] = []
    for i, entry in enumerate(get_list(obj, "adjudication", f"{path}.adjudication")):
        kind, value = _adjustment(entry, f"{path}.adjudication[{i}]")
        if kind == "adjustment":
            adjustments.append(value)
        elif value is not None:
            totals.setdefault(kind, value)
    return totals, adjustments


def _line_payment(obj: Json, path: str) -> ServiceLinePayment:
    amounts, adjustments = _adjudication(obj, path)
    sequence = get_int(obj, "itemSequence", f"{path}.itemSequence") or get_int(
        obj, "sequence", f"{path}.sequence"
    )
    return ServiceLinePayment(
        procedure=coded_from(get_obj(obj, "productOrService", path), f"{path}.productOrService"),
        charge=amounts.get("submitted"),
        paid=amounts.get("benefit"),
        adjustments=adjustments,
        line_control_number=str(sequence) if sequence is not None else None,
    )


def _totals(resource: Json, key: str) -> dict[str, Money]:
    found: dict[str, Money] = {}
    for i, entry in enumerate(get_list(resource, "total", f"{key}.total")):
        category = coded_from(
            get_obj(entry, "category", f"{key}.total[{i}]"), f"{key}.total[{i}].category"
        )
        amount = money_from(
            get_obj(entry, "amount", f"{key}.total[{i}].amount"), f"{key}.total[{i}].amount"
        )
        if category and category.code and amount:
            found.setdefault(category.code, amount)
    return found


def _status_code(resource: Json, key: str) -> str | None:
    for i, ext in enumerate(get_list(resource, "extension", f"{key}.extension")):
        if ext.get("url") == STATUS_EXTENSION:
            return get_str(ext, "valueCode", f"{key}.extension[{i}].valueCode")
    return None


def _remittance(
    resource: Json, key: str, claim_key: str, payee_key: str, ctx: MapContext
) -> Remittance:
    entity_id, kept = resource_id_from(resource, EntityType.REMITTANCE, ctx)
    _, adjustments = _adjudication(resource, key)  # header amounts other than CAS: dropped
    total = _totals(resource, key)
    payment = get_obj(resource, "payment", f"{key}.payment") or {}
    trace = get_obj(payment, "identifier", f"{key}.payment.identifier")
    status_code = _status_code(resource, key)
    return build(
        Remittance,
        ctx,
        key,
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", f"{key}.identifier"), f"{key}.identifier", ctx
            ),
            *kept,
        ],
        claim=ref_from(
            get_obj(resource, claim_key, f"{key}.{claim_key}"),
            f"{key}.{claim_key}",
            ctx,
            (EntityType.CLAIM,),
        ),
        payer_claim_control_number=_first_value(resource, key, ctx),
        status_code=status_code,
        total_charge=total.get("submitted"),
        paid=total.get("benefit"),
        patient_responsibility=total.get("paidbypatient"),
        payer=party_from(
            get_obj(resource, "insurer", f"{key}.insurer"), f"{key}.insurer", ctx, _ORG
        ),
        payee=party_from(
            get_obj(resource, payee_key, f"{key}.{payee_key}"), f"{key}.{payee_key}", ctx, _PROVIDER
        ),
        patient=party_from(
            get_obj(resource, "patient", f"{key}.patient"), f"{key}.patient", ctx, _PATIENT
        ),
        adjustments=adjustments or None,
        service_lines=[
            _line_payment(o, f"{key}.item[{i}]")
            for i, o in enumerate(get_list(resource, "item", f"{key}.item"))
        ],
        payment_amount=money_from(
            get_obj(payment, "amount", f"{key}.payment.amount"), f"{key}.payment.amount"
        ),
        payment_date=date_from(payment.get("date"), f"{key}.payment.date"),
        trace_number=get_str(trace, "value", f"{key}.payment.identifier.value") if trace else None,
        denied=status_code == "4",
    )


def _claim_status(resource: Json, ctx: MapContext) -> ClaimStatus:
    key = "ClaimResponse"
    entity_id, kept = resource_id_from(resource, EntityType.CLAIM_STATUS, ctx)
    errors = get_list(resource, "error", f"{key}.error")
    first_error = (
        coded_from(get_obj(errors[0], "code", f"{key}.error[0]"), f"{key}.error[0].code")
        if errors
        else None
    )
    return build(
        ClaimStatus,
        ctx,
        key,
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", f"{key}.identifier"), f"{key}.identifier", ctx
            ),
            *kept,
        ],
        claim=ref_from(
            get_obj(resource, "request", f"{key}.request"),
            f"{key}.request",
            ctx,
            (EntityType.CLAIM,),
        ),
        payer_claim_control_number=_first_value(resource, key, ctx),
        status=first_error,
        payer=party_from(
            get_obj(resource, "insurer", f"{key}.insurer"), f"{key}.insurer", ctx, _ORG
        ),
        message=get_str(resource, "disposition", f"{key}.disposition"),
        accepted=resource.get("outcome") == "queued",
    )


def claim_response_from_fhir(resource: Json, ctx: MapContext) -> Remittance | ClaimStatus:
    """FHIR ClaimResponse → Remittance (outcome complete/partial) or ClaimStatus (queued/error)."""
    resource = expect_resource(resource, "ClaimResponse")
    if resource.get("outcome") in ("queued", "error"):
        return _claim_status(resource, ctx)
    return _remittance(resource, "ClaimResponse", "request", "requestor", ctx)


def eob_from_fhir(resource: Json, ctx: MapContext) -> Remittance:
    """FHIR ExplanationOfBenefit → Remittance."""
    resource = expect_resource(resource, "ExplanationOfBenefit")
    return _remittance(resource, "ExplanationOfBenefit", "claim", "provider", ctx)


# --------------------------------------------------------------------------- answers: writing


def _adjustment_to(adjustment: Adjustment) -> Json:
    base = {v: k for k, v in _BASE_ADJUSTMENTS.items()}.get((adjustment.group, adjustment.reason))
    if base is not None:
        return {
            "category": {"coding": [{"system": ADJUDICATION, "code": base}]},
            "amount": money_to(adjustment.amount),
        }
    return compact(
        {
            "category": {"coding": [{"system": CAS_GROUP, "code": adjustment.group}]},
            "reason": {"coding": [{"system": CARC, "code": adjustment.reason}]}
            if adjustment.reason
            else None,
            "amount": money_to(adjustment.amount),
        }
    )


def _amount(code: str, money: Money | None) -> list[Json]:
    if money is None:
        return []
    system = CARIN_ADJUDICATION if code == "paidbypatient" else ADJUDICATION
    return [{"category": {"coding": [{"system": system, "code": code}]}, "amount": money_to(money)}]


def _line_payment_to(line: ServiceLinePayment, number: int, sequence_key: str) -> Json:
    control = line.line_control_number or ""
    out: Json = {sequence_key: int(control) if control.isdigit() else number}
    if sequence_key == "sequence":  # ExplanationOfBenefit.item.productOrService is 1..1
        out["productOrService"] = _required(
            coded_to(line.procedure), "ExplanationOfBenefit.item.productOrService"
        )
    adjudication = [
        *_amount("submitted", line.charge),
        *_amount("benefit", line.paid),
        *(_adjustment_to(a) for a in line.adjustments),
    ]
    return compact({**out, "adjudication": adjudication})


def _answer(remittance: Remittance, kind: str, ctx: MapContext) -> Json:
    """The part ClaimResponse and ExplanationOfBenefit share."""
    totals = [
        *_amount("submitted", remittance.total_charge),
        *_amount("benefit", remittance.paid),
        *_amount("paidbypatient", remittance.patient_responsibility),
    ]
    payment = (
        compact(
            {
                # ClaimResponse.payment.type is 1..1 and not kept: a payment we report is complete
                "type": {"coding": [{"system": PAYMENT_TYPE, "code": "complete"}]},
                "amount": money_to(remittance.payment_amount),
                "date": date_to(remittance.payment_date),
                "identifier": {"value": remittance.trace_number}
                if remittance.trace_number
                else None,
            }
        )
        if remittance.payment_amount is not None
        else None
    )
    code = remittance.status_code or ("4" if remittance.denied else None)
    return {
        "resourceType": kind,
        "id": resource_id_to(remittance.id, remittance.identifiers, EntityType.REMITTANCE, ctx),
        "extension": [{"url": STATUS_EXTENSION, "valueCode": code}] if code else None,
        "identifier": identifiers_to(remittance.identifiers, ctx),
        "status": "active",
        # type is 1..1 and the canonical remittance keeps no claim kind (see the docs)
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "professional"}]},
        "use": "claim",
        "patient": _required(
            party_to(remittance.patient, EntityType.PATIENT, ctx), f"{kind}.patient"
        ),
        # created is 1..1 and not kept: it is when the hub wrote this resource
        "created": datetime_to(ctx.clock(), ctx),
        "insurer": _required(
            party_to(remittance.payer, EntityType.ORGANIZATION, ctx), f"{kind}.insurer"
        ),
        "outcome": "complete",
        "adjudication": [_adjustment_to(a) for a in remittance.adjustments],
        "total": totals,
        "payment": payment,
    }


def claim_response_to_fhir(entity: Remittance | ClaimStatus, ctx: MapContext) -> Json:
    """Canonical Remittance (or ClaimStatus) → FHIR ClaimResponse."""
    if isinstance(entity, ClaimStatus):
        return _status_to(entity, ctx)
    out = _answer(entity, "ClaimResponse", ctx)
    out.update(
        {
            "request": ref_to(entity.claim, ctx),
            "requestor": party_to(entity.payee, EntityType.ORGANIZATION, ctx),
            "item": [
                _line_payment_to(s, n, "itemSequence")
                for n, s in enumerate(entity.service_lines, start=1)
            ],
        }
    )
    return compact(out)


def _status_to(status: ClaimStatus, ctx: MapContext) -> Json:
    # ClaimResponse.patient is 1..1 and a canonical ClaimStatus names no patient
    raise MappingError(
        "a claim status names no patient, which ClaimResponse requires",
        location="ClaimResponse.patient",
    )


def eob_to_fhir(remittance: Remittance, ctx: MapContext) -> Json:
    """Canonical Remittance → FHIR ExplanationOfBenefit (provider and insurance are 1..1/1..*:
    the payee is the provider; the coverage, not kept, is named by the payer)."""
    out = _answer(remittance, "ExplanationOfBenefit", ctx)
    out.update(
        {
            "claim": ref_to(remittance.claim, ctx),
            "provider": _required(
                party_to(remittance.payee, EntityType.ORGANIZATION, ctx),
                "ExplanationOfBenefit.provider",
            ),
            "insurance": [{"focal": True, "coverage": {"display": _payer_name(remittance.payer)}}],
            "item": [
                _line_payment_to(s, n, "sequence")
                for n, s in enumerate(remittance.service_lines, start=1)
            ],
        }
    )
    return compact(out)


# --------------------------------------------------------------------------- registry entries


def _submitted(claim: Claim, previous: Claim | None) -> EventKind:
    return EventKind.CLAIM_SUBMITTED


def _answered(entity: Remittance | ClaimStatus, previous: object) -> EventKind:
    if isinstance(entity, ClaimStatus):
        return EventKind.CLAIM_ACKNOWLEDGED if entity.accepted else EventKind.CLAIM_STATUS_REPORTED
    return EventKind.CLAIM_DENIED if entity.denied else EventKind.CLAIM_PAID


_ITEM = "Claim.item"
_FOCAL = "Claim.insurance.first()"


def _answer_carried(key: str, claim_key: str, payee_key: str, sequence: str) -> tuple[Carried, ...]:
    def total(code: str) -> str:
        return f"{key}.total.where(category.coding.code='{code}').first().amount"

    def amount(base: str, code: str) -> str:
        return f"{base}.select(adjudication.where(category.coding.code='{code}').first()).amount"

    cas = f"{key}.adjudication.where(category.coding.system='{CAS_GROUP}')"
    line_cas = f"{key}.item.adjudication.where(category.coding.system='{CAS_GROUP}')"
    return (
        *leaf(f"{key}.id"),
        *identifier(f"{key}.identifier"),
        *leaf(f"{key}.extension.where(url='{STATUS_EXTENSION}').valueCode"),
        *reference(f"{key}.{claim_key}", ("Claim",)),
        *reference(f"{key}.patient", ("Patient",)),
        *reference(f"{key}.insurer", ("Organization",)),
        *reference(f"{key}.{payee_key}", ("Organization", "Practitioner")),
        *money(total("submitted")),
        *money(total("benefit")),
        *money(total("paidbypatient")),
        *leaf(f"{cas}.category.coding.code"),
        *leaf(f"{cas}.reason.coding.code"),
        *money(f"{cas}.amount"),
        *leaf(f"{key}.item.{sequence}", "integer"),
        *money(amount(f"{key}.item", "submitted")),
        *money(amount(f"{key}.item", "benefit")),
        *money(amount(f"{key}.item", "deductible")),
        *money(amount(f"{key}.item", "copay")),
        *leaf(f"{line_cas}.category.coding.code"),
        *leaf(f"{line_cas}.reason.coding.code"),
        *money(f"{line_cas}.amount"),
        *money(f"{key}.payment.amount"),
        *leaf(f"{key}.payment.date", "date"),
        *leaf(f"{key}.payment.identifier.value"),
    )


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

MAPPINGS = (
    ResourceMapping(
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
    ),
    ResourceMapping(
        resource_type="ClaimResponse",
        entity_types=(EntityType.REMITTANCE, EntityType.CLAIM_STATUS),
        to_fhir=claim_response_to_fhir,
        from_fhir=claim_response_from_fhir,
        event_kind=_answered,
        carried=_answer_carried("ClaimResponse", "request", "requestor", "itemSequence"),
        notes=(
            "outcome queued/error → ClaimStatus; complete/partial → Remittance.",
            "type, created and outcome are not kept (no canonical field): written as "
            "professional, the time of writing, and complete.",
            "A ClaimStatus cannot be written (ClaimResponse.patient is 1..1, ClaimStatus names "
            "no patient): MappingError.",
            "R4 ClaimResponse.item has no productOrService: a line's procedure is not "
            "written there (ExplanationOfBenefit carries it).",
            "Line adjudications other than submitted/benefit/deductible/copay/X12 CAS, "
            "addItem, processNote, communicationRequest, insurance and error are dropped.",
        ),
    ),
    ResourceMapping(
        resource_type="ExplanationOfBenefit",
        entity_types=(EntityType.REMITTANCE,),
        to_fhir=eob_to_fhir,
        from_fhir=eob_from_fhir,
        event_kind=_answered,
        carried=_answer_carried("ExplanationOfBenefit", "claim", "provider", "sequence"),
        notes=(
            "Read as a Remittance like ClaimResponse; careTeam, diagnosis, procedure, "
            "supportingInfo, benefitBalance and insurance are dropped.",
            "insurance.coverage (1..1) is written as a display (the payer's name).",
        ),
    ),
)
