"""FHIR DiagnosticReport ↔ canonical DiagnosticReport (V2-to-FHIR OBR → DiagnosticReport).

``identifier`` holds the filler (type FILL, OBR-3) and placer (type PLAC, OBR-2) order
numbers; ``result`` references the report's Observations by their business identifiers
(a logical reference, resolved by the receiving server — each Observation is delivered as
its own conditional update, keyed by the same identifier); ``resultsInterpreter`` ↔ the
principal result interpreter (OBR-32); ``category`` ↔ the diagnostic service section
(OBR-24, table 0074); ``effectivePeriod`` when OBR-8 ends the collection, else
``effectiveDateTime``; ``conclusion`` ↔ the NTE after the OBR; ``presentedForm`` ↔ the
report as a document.
"""

from __future__ import annotations

from hub.canonical import DiagnosticReport, EntityType, EventKind, ReportStatus
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import Carried, coded, identifier, leaf, period, reference
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    coded_from,
    coded_to,
    compact,
    datetime_from,
    datetime_to,
    get_list,
    get_obj,
    get_str,
    instant_to,
    when_from,
)
from mappings.fhir.observation import attachment_from, attachment_to
from mappings.fhir.references import (
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    refs_from,
    resource_id_from,
    resource_id_to,
)

__all__ = ["MAPPING", "report_from_fhir", "report_to_fhir"]

_PRACTITIONER = (EntityType.PRACTITIONER, EntityType.ORGANIZATION)
_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def _status(resource: Json) -> ReportStatus:
    value = get_str(resource, "status", "DiagnosticReport.status") or "unknown"
    try:
        return ReportStatus(value)
    except ValueError as exc:
        raise MappingError("unknown report status", location="DiagnosticReport.status") from exc


def report_from_fhir(resource: Json, ctx: FhirMapContext) -> DiagnosticReport:
    """FHIR DiagnosticReport → canonical DiagnosticReport."""
    at = "DiagnosticReport"
    resource = expect_resource(resource, at)
    entity_id, kept = resource_id_from(resource, EntityType.DIAGNOSTIC_REPORT, ctx)
    idents = identifiers_from(
        get_list(resource, "identifier", f"{at}.identifier"), f"{at}.identifier", ctx
    )
    start = when_from(resource.get("effectiveDateTime"), f"{at}.effectiveDateTime")
    end = None
    if (span := get_obj(resource, "effectivePeriod", f"{at}.effectivePeriod")) is not None:
        start = when_from(span.get("start"), f"{at}.effectivePeriod.start")
        end = when_from(span.get("end"), f"{at}.effectivePeriod.end")
    categories = get_list(resource, "category", f"{at}.category")
    forms = get_list(resource, "presentedForm", f"{at}.presentedForm")
    return build(
        DiagnosticReport,
        ctx,
        at,
        id=entity_id,
        identifiers=[*idents, *kept],
        placer_number=next((i for i in idents if i.type == "PLAC"), None),
        filler_number=next((i for i in idents if i.type == "FILL"), None),
        status=_status(resource),
        code=coded_from(get_obj(resource, "code", f"{at}.code"), f"{at}.code"),
        category=coded_from(categories[0], f"{at}.category[0]") if categories else None,
        effective=start,
        effective_end=end,
        issued=datetime_from(resource.get("issued"), f"{at}.issued"),
        patient=ref_from(
            get_obj(resource, "subject", f"{at}.subject"),
            f"{at}.subject",
            ctx,
            (EntityType.PATIENT,),
        ),
        encounter=ref_from(
            get_obj(resource, "encounter", f"{at}.encounter"),
            f"{at}.encounter",
            ctx,
            (EntityType.ENCOUNTER,),
        ),
        interpreters=refs_from(
            get_list(resource, "resultsInterpreter", f"{at}.resultsInterpreter"),
            f"{at}.resultsInterpreter",
            ctx,
            _PRACTITIONER,
        ),
        results=refs_from(
            get_list(resource, "result", f"{at}.result"),
            f"{at}.result",
            ctx,
            (EntityType.OBSERVATION,),
        ),
        conclusion=get_str(resource, "conclusion", f"{at}.conclusion"),
        presented_form=[
            a
            for i, f in enumerate(forms)
            if (a := attachment_from(f, f"{at}.presentedForm[{i}]")) is not None
        ],
    )


def _code_to(report: DiagnosticReport) -> Json:
    written = coded_to(report.code)
    return written or {"extension": [{"url": _ABSENT, "valueCode": "unknown"}]}


def report_to_fhir(report: DiagnosticReport, ctx: FhirMapContext) -> Json:
    """Canonical DiagnosticReport → FHIR DiagnosticReport."""
    if report.effective_end is not None:
        effective: Json = {
            "effectivePeriod": compact(
                {
                    "start": datetime_to(report.effective, ctx),
                    "end": datetime_to(report.effective_end, ctx),
                }
            )
        }
    else:
        effective = {"effectiveDateTime": datetime_to(report.effective, ctx)}
    return compact(
        {
            "resourceType": "DiagnosticReport",
            "id": resource_id_to(report.id, report.identifiers, EntityType.DIAGNOSTIC_REPORT, ctx),
            "identifier": identifiers_to(report.identifiers, ctx),
            "status": report.status.value,
            "category": [coded_to(report.category)] if report.category else None,
            "code": _code_to(report),
            "subject": ref_to(report.patient, ctx),
            "encounter": ref_to(report.encounter, ctx),
            **effective,
            "issued": instant_to(report.issued, ctx),
            "resultsInterpreter": [r for r in (ref_to(p, ctx) for p in report.interpreters) if r],
            "result": [r for r in (ref_to(o, ctx) for o in report.results) if r],
            "conclusion": report.conclusion,
            "presentedForm": [a for a in (attachment_to(f) for f in report.presented_form) if a],
        }
    )


def _event(report: DiagnosticReport, previous: DiagnosticReport | None) -> EventKind:
    return EventKind.REPORT_ISSUED


_FORM = "DiagnosticReport.presentedForm"

MAPPING = ResourceMapping(
    resource_type="DiagnosticReport",
    entity_types=(EntityType.DIAGNOSTIC_REPORT,),
    to_fhir=report_to_fhir,
    from_fhir=report_from_fhir,
    event_kind=_event,
    carried=(
        *leaf("DiagnosticReport.id"),
        *identifier("DiagnosticReport.identifier"),
        *leaf("DiagnosticReport.status"),
        *coded("DiagnosticReport.category.first()"),
        *coded("DiagnosticReport.code"),
        *reference("DiagnosticReport.subject", ("Patient",)),
        *reference("DiagnosticReport.encounter", ("Encounter",)),
        *leaf("DiagnosticReport.effectiveDateTime", "datetime"),
        *period("DiagnosticReport.effectivePeriod"),
        *leaf("DiagnosticReport.issued", "datetime"),
        *reference("DiagnosticReport.resultsInterpreter", ("Practitioner", "Organization")),
        *reference("DiagnosticReport.result", ("Observation",)),
        *leaf("DiagnosticReport.conclusion"),
        *(Carried(f"{_FORM}.{p}") for p in ("contentType", "language", "data", "url", "title")),
        Carried(f"{_FORM}.size", "integer"),
    ),
    notes=(
        "result references the Observations by identifier (logical references) unless the "
        "target server's ids are known: each Observation is delivered on its own.",
        "Only the first category is kept; basedOn, performer, specimen, imagingStudy, media, "
        "conclusionCode are dropped. The ordering provider (OBR-16) has no element here (it "
        "belongs to the ServiceRequest) and is not written.",
        "A report without code (an OBR without OBR-4) is written with a data-absent-reason "
        "extension on code.",
    ),
)
