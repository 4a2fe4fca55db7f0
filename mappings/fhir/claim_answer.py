"""What ClaimResponse and ExplanationOfBenefit share: both answer a claim and both map to a
canonical Remittance (X12 835 CLP meaning).

``request``/``claim`` ↔ ``claim``, ``identifier[0].value`` ↔ ``payer_claim_control_number``
(CLP07), ``total`` submitted/benefit/paidbypatient ↔ ``total_charge``/``paid``/
``patient_responsibility``, ``adjudication`` and ``item.adjudication`` ↔ ``adjustments``
(group/reason: X12 CAS; base categories deductible = PR-1, copay = PR-3), ``payment`` ↔
``payment_amount``/``payment_date``/``trace_number``. CLP02 travels in the extension
``urn:carehub:fhir:extension:claim-status-code``; "4" marks a denial.
"""

from __future__ import annotations

from typing import Any

from hub.canonical import (
    Adjustment,
    ClaimStatus,
    EntityType,
    EventKind,
    Money,
    Remittance,
    ServiceLinePayment,
)
from mappings.fhir.base import build
from mappings.fhir.carried import Carried, identifier, leaf, money, reference
from mappings.fhir.claim_shared import (
    CLAIM_TYPE,
    ORGANIZATION,
    PATIENT,
    PROVIDER,
    first_identifier_value,
    required,
)
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    coded_from,
    coded_to,
    compact,
    date_from,
    date_to,
    datetime_to,
    get_int,
    get_list,
    get_obj,
    get_str,
    money_from,
    money_to,
)
from mappings.fhir.references import (
    identifiers_from,
    identifiers_to,
    party_from,
    party_to,
    ref_from,
    resource_id_from,
    resource_id_to,
)

__all__ = [
    "ADJUDICATION",
    "CARC",
    "CARIN_ADJUDICATION",
    "CAS_GROUP",
    "PAYMENT_TYPE",
    "STATUS_EXTENSION",
    "answer_carried",
    "answer_to",
    "answered",
    "line_payments_to",
    "remittance_from",
]

ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CARIN_ADJUDICATION = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
CAS_GROUP = "https://x12.org/codes/claim-adjustment-group-codes"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
STATUS_EXTENSION = "urn:carehub:fhir:extension:claim-status-code"
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
_BASE_ADJUSTMENTS = {"deductible": ("PR", "1"), "copay": ("PR", "3")}


# --------------------------------------------------------------------------- reading


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


def remittance_from(
    resource: Json, key: str, claim_key: str, payee_key: str, ctx: FhirMapContext
) -> Remittance:
    """The Remittance an answer carries; ``claim_key`` names the claim reference (``request``
    or ``claim``), ``payee_key`` the payee (``requestor`` or ``provider``)."""
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
        payer_claim_control_number=first_identifier_value(resource, key, ctx),
        status_code=status_code,
        total_charge=total.get("submitted"),
        paid=total.get("benefit"),
        patient_responsibility=total.get("paidbypatient"),
        payer=party_from(
            get_obj(resource, "insurer", f"{key}.insurer"), f"{key}.insurer", ctx, ORGANIZATION
        ),
        payee=party_from(
            get_obj(resource, payee_key, f"{key}.{payee_key}"), f"{key}.{payee_key}", ctx, PROVIDER
        ),
        patient=party_from(
            get_obj(resource, "patient", f"{key}.patient"), f"{key}.patient", ctx, PATIENT
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


# --------------------------------------------------------------------------- writing


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
        out["productOrService"] = required(
            coded_to(line.procedure), "ExplanationOfBenefit.item.productOrService"
        )
    adjudication = [
        *_amount("submitted", line.charge),
        *_amount("benefit", line.paid),
        *(_adjustment_to(a) for a in line.adjustments),
    ]
    return compact({**out, "adjudication": adjudication})


def answer_to(remittance: Remittance, kind: str, ctx: FhirMapContext) -> Json:
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
        "patient": required(
            party_to(remittance.patient, EntityType.PATIENT, ctx), f"{kind}.patient"
        ),
        # created is 1..1 and not kept: it is when the hub wrote this resource
        "created": datetime_to(ctx.clock(), ctx),
        "insurer": required(
            party_to(remittance.payer, EntityType.ORGANIZATION, ctx), f"{kind}.insurer"
        ),
        "outcome": "complete",
        "adjudication": [_adjustment_to(a) for a in remittance.adjustments],
        "total": totals,
        "payment": payment,
    }


def line_payments_to(lines: list[ServiceLinePayment], sequence_key: str) -> list[Json]:
    """``item``: one entry per paid line, numbered by ``sequence_key`` (ClaimResponse
    ``itemSequence``, ExplanationOfBenefit ``sequence``)."""
    return [_line_payment_to(s, n, sequence_key) for n, s in enumerate(lines, start=1)]


# --------------------------------------------------------------------------- registry entries


def answered(entity: Remittance | ClaimStatus, previous: object) -> EventKind:
    """The event an answer read from FHIR is published as."""
    if isinstance(entity, ClaimStatus):
        return EventKind.CLAIM_ACKNOWLEDGED if entity.accepted else EventKind.CLAIM_STATUS_REPORTED
    return EventKind.CLAIM_DENIED if entity.denied else EventKind.CLAIM_PAID


def answer_carried(key: str, claim_key: str, payee_key: str, sequence: str) -> tuple[Carried, ...]:
    """The FHIRPaths an answer carries; the arguments name what differs between
    ClaimResponse and ExplanationOfBenefit."""

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
