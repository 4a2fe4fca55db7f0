"""immunization.* → VXU^V04 (VXU_V04 structure): one ORDER group (ORC, RXA, RXR, OBX*) per
message, after the CDC HL7 2.5.1 Implementation Guide for Immunization Messaging r1.5.

``immunization.recorded`` is sent with RXA-21 ``A`` (add); ``immunization.entered_in_error``
and ``immunization.removed`` with RXA-21 ``D`` (delete), which is how an immunization
registry is told to retract a dose.
"""

from __future__ import annotations

import re

from adapters.hl7v2 import Message
from hub.canonical import (
    Coded,
    Event,
    EventKind,
    Identifier,
    Immunization,
    ImmunizationStatus,
    Ref,
)
from hub.errors import MappingError

from ..vxu import (
    FUNDING_SOURCE,
    IMMUNIZATION_ORIGIN,
    NEW_RECORD,
    PROGRAM_ELIGIBILITY,
    VIS_DOCUMENT,
    VIS_PRESENTED,
    VIS_PUBLISHED,
)
from .common import entity_of, new_message, ref_pid
from .encode import Writer, add_segment
from .options import Hl7v2OutboundOptions

__all__ = ["render_v04"]

_RETRACTED = frozenset({EventKind.IMMUNIZATION_ENTERED_IN_ERROR, EventKind.IMMUNIZATION_REMOVED})
_LOINC = "LN"
#: RXA-6 when the amount is not known (the IG's "999")
_UNKNOWN_AMOUNT = "999"
_HISTORICAL = Coded(code="01", display="Historical information - source unspecified")
#: FHIR's system for an identifier that is itself a URI (a reference kept as identifier)
_URI_SYSTEM = "urn:ietf:rfc:3986"
_REFERENCE = re.compile(r"^(urn:(uuid|oid):|https?://)", re.IGNORECASE)
#: the longest IS value (LA2.4 HD.1, the facility namespace)
_IS_LENGTH = 20
#: FHIR's code system for Immunization.statusReason (PATOBJ, OSTOCK, MEDPREC, IMMUNE)
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#: NIP002 substance refusal reasons: every code of the table is a refusal
_NIP002_REFUSALS = frozenset({"00", "01", "02", "03"})


def render_v04(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """MSH, PID, ORC, RXA, [RXR], OBX*: the inverse of ``mappings.hl7v2.vxu``."""
    item = entity_of(event, Immunization)
    if item.patient is None:
        raise MappingError("the immunization names no patient", code="101", location="PID-3")
    msg, w = new_message(event, options, "VXU^V04", "VXU_V04")
    add_segment(msg, "PID", ref_pid(w, item.patient))
    add_segment(msg, "ORC", _orc(w, item))
    add_segment(msg, "RXA", _rxa(w, item, retract=event.kind in _RETRACTED))
    if item.route is not None or item.site is not None:
        add_segment(msg, "RXR", {1: w.cwe(item.route), 2: w.cwe(item.site)})
    for n, fields in enumerate(_observations(w, item), 1):
        add_segment(msg, "OBX", {1: str(n), **fields})
    return msg


def _orc(w: Writer, item: Immunization) -> dict[int, str]:
    """ORC-1 RE (observations to follow), ORC-2 placer and ORC-3 filler order numbers (the
    FILL/PLAC identifiers; an untyped one is the filler), ORC-12 ordering provider."""
    placer = next((i for i in item.identifiers if i.type == "PLAC"), None)
    filler = next((i for i in item.identifiers if i.type != "PLAC"), None)
    return {
        1: "RE",
        2: w.ei(placer.value, placer.system) if placer else "",
        3: w.ei(filler.value, filler.system) if filler else "",
        12: w.reps(w.xcn(r) for r in item.ordered_by),
    }


def _rxa(w: Writer, item: Immunization, *, retract: bool) -> dict[int, str]:
    """RXA-1/2 counters 0 and 1 (the IG's constants), RXA-3 and RXA-4 the administration
    time (both required), RXA-5 vaccine (first code, the second as the alternate triplet),
    RXA-6/7 amount (999 unknown) and units, RXA-9 information source, RXA-10 administering
    provider, RXA-11 place, RXA-15 lot, RXA-16 expiry, RXA-17 manufacturer, RXA-18 refusal
    reason, RXA-20 completion status, RXA-21 action code, RXA-22 entered at."""
    if item.occurred_at is None:
        raise MappingError(
            "the immunization has no administration time", code="101", location="RXA-3"
        )
    if not any(c.code for c in item.vaccine_codes):
        raise MappingError("the immunization has no vaccine code", code="101", location="RXA-5")
    when = w.dtm(item.occurred_at)
    return {
        1: "0",
        2: "1",
        3: when,
        4: when,
        5: _vaccine(w, item.vaccine_codes),
        6: w.number(item.dose_quantity) or _UNKNOWN_AMOUNT,
        7: w.cwe(item.dose_unit) if item.dose_quantity is not None else "",
        9: _source(w, item),
        10: w.reps(w.xcn(r) for r in item.administered_by),
        11: _place(w, item.location),
        15: w.e(item.lot_number),
        16: w.dtm(item.expiration_date),
        17: _manufacturer(w, item.manufacturer),
        18: _reason(w, item),
        20: _completion(w, item),
        21: "D" if retract or item.status is ImmunizationStatus.ENTERED_IN_ERROR else "A",
        22: w.dtm(item.recorded),
    }


def _vaccine(w: Writer, codes: list[Coded]) -> str:
    """RXA-5 (CWE): the first code as .1-.3, the second as the alternate .4-.6."""
    triplets = [
        (w.e(c.code), w.e(c.display), w.e(w.system_name(c.system))) for c in codes if c.code
    ][:2]
    return w.comps(*(part for triplet in triplets for part in triplet))


def _source(w: Writer, item: Immunization) -> str:
    """RXA-9 (NIP001): 00 new record for a primary source, the report origin (else 01,
    historical, source unspecified) for one that is not."""
    if item.primary_source is None:
        return ""
    if item.primary_source:
        return w.comps(NEW_RECORD, "New immunization record", "NIP001")
    origin = item.report_origin
    if origin is not None and origin.system == IMMUNIZATION_ORIGIN.system:
        return w.cwe(origin, IMMUNIZATION_ORIGIN)
    if origin is None or w.system_name(origin.system) != "NIP001":
        origin = _HISTORICAL  # a source NIP001 has no code for: "source unspecified"
    return w.comps(w.e(origin.code), w.e(origin.display), "NIP001")


def _place(w: Writer, ref: Ref | None) -> str:
    """RXA-11 (LA2): where the dose was given. A location identifier fills the facility
    (.4, its namespace) and, for a location known by a unit (``unit/room/bed``), .1-.3.
    A reference is not an identifier: a ``urn:uuid:``/``urn:oid:`` or URL (a FHIR
    ``Immunization.location`` inside a Bundle or on another server) is never written.
    Without an identifier the location's name is the facility (.4.1, IS: up to 20
    characters); a longer name goes whole into .10 other designation (ST), not cut."""
    if ref is None:
        return ""
    idents = [i for i in ref.identifiers if not _is_reference(i)]
    if idents:
        ident = idents[0]
        facility = w.subs(*w.hd_parts(ident.system))
        if ident.value == ident.system:
            return w.comps("", "", "", facility)
        parts = [*ident.value.split("/", 2), "", ""][:3]
        return w.comps(*(w.e(p) for p in parts), facility)
    name = (ref.display or "").strip()
    if not name:
        return ""
    if len(name) <= _IS_LENGTH:
        return w.comps("", "", "", w.e(name))
    return w.comps(*[""] * 9, w.e(name))


def _is_reference(ident: Identifier) -> bool:
    """An identifier that is only the URI of a resource (kept from a FHIR reference)."""
    return ident.system == _URI_SYSTEM or bool(_REFERENCE.match(ident.value))


def _manufacturer(w: Writer, ref: Ref | None) -> str:
    """RXA-17: the MVX code and the manufacturer's name."""
    if ref is None:
        return ""
    ident = ref.identifiers[0] if ref.identifiers else None
    system = "MVX" if ident and ident.system == "http://hl7.org/fhir/sid/mvx" else None
    if ident is not None and system is None:
        system = w.system_name(ident.system)
    return w.comps(w.e(ident.value if ident else None), w.e(ref.display), w.e(system))


def _reason(w: Writer, item: Immunization) -> str:
    """RXA-18: the reason a dose was not given (a refusal's NIP002 code, or any other reason
    such as v3-ActReason OSTOCK), its coding system as a table 0396 name."""
    if item.status is not ImmunizationStatus.NOT_DONE:
        return ""
    return w.cwe(item.status_reason)


def _is_refusal(w: Writer, reason: Coded | None) -> bool:
    """Whether a not-done reason says the patient or guardian objected: v3-ActReason PATOBJ,
    or an NIP002 substance refusal reason (00 parental decision, 01 religious exemption,
    02 other, 03 patient decision). Anything else (out of stock, a medical precaution,
    immunity) is not a refusal and must not reach a registry as one."""
    if reason is None or not reason.code:
        return False
    if reason.system == _ACT_REASON:
        return reason.code == "PATOBJ"
    return w.system_name(reason.system) == "NIP002" and reason.code in _NIP002_REFUSALS


def _completion(w: Writer, item: Immunization) -> str:
    """RXA-20 (table 0322): as received when known, else from the status: not-done with a
    refusal reason RE, with any other reason or none NA; subpotent PA; else CP."""
    if item.completion_status:
        return item.completion_status
    if item.status is ImmunizationStatus.NOT_DONE:
        return "RE" if _is_refusal(w, item.status_reason) else "NA"
    return "PA" if item.subpotent else "CP"


def _observations(w: Writer, item: Immunization) -> list[dict[int, str]]:
    """OBX: program eligibility (64994-7), funding source (30963-3), and per VIS its
    document type (69764-9) and dates (29768-9, 29769-7), grouped by OBX-4."""
    when = w.dtm(item.occurred_at)
    out: list[dict[int, str]] = []

    def add(kind: str, loinc: str, name: str, value: str, group: int) -> None:
        if value:
            ident = w.comps(loinc, name, _LOINC)
            out.append({2: kind, 3: ident, 4: str(group), 5: value, 11: "F", 14: when})

    coded = "CWE" if w.options.version_at_least(2, 6) else "CE"  # CE is withdrawn in 2.6
    group = 0
    for code in item.program_eligibility:
        group += 1
        add(
            coded,
            PROGRAM_ELIGIBILITY,
            "Vaccine funding program eligibility category",
            w.cwe(code),
            group,
        )
    if item.funding_source is not None:
        group += 1
        add(coded, FUNDING_SOURCE, "Vaccine funding source", w.cwe(item.funding_source), group)
    for vis in item.education:
        group += 1
        document = w.comps(w.e(vis.document_type), "", "cdcgs1vis") if vis.document_type else ""
        add(coded, VIS_DOCUMENT, "Vaccine information statement document type", document, group)
        add(
            "DT",
            VIS_PUBLISHED,
            "Date vaccine information statement published",
            w.dtm(vis.published),
            group,
        )
        add(
            "DT",
            VIS_PRESENTED,
            "Date vaccine information statement presented",
            w.dtm(vis.presented),
            group,
        )
    return out
