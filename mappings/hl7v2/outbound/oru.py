"""result.reported / report.issued → ORU^R01 (ORU_R01 structure), the inverse of
``mappings.hl7v2.oru``.

A result is one ORU^R01 with PID, [PV1], an OBR naming the result's code (OBR-4 is
required) and its order's placer/filler numbers (OBR-2/OBR-3, kept on the result when it
was read), and its OBX (+NTE; OBX-21 its identifier from v2.6). A report is one ORU^R01
with PID, [PV1] and its OBR (+NTE conclusion), without OBX: its results travel as their own
messages, each under the same order numbers when the result carries them.
"""

from __future__ import annotations

import base64
import binascii

from adapters.hl7v2 import Message
from hub.canonical import (
    Attachment,
    DiagnosticReport,
    EntityType,
    Event,
    Observation,
    ObservationValue,
    Quantity,
    ReportStatus,
    ResultStatus,
)
from hub.errors import MappingError

from ..obx import INTERPRETATION_SYSTEM, UCUM
from .common import entity_of, new_message, ref_pid
from .encode import Writer, add_segment
from .options import Hl7v2OutboundOptions

__all__ = ["OBR_STATUS", "OBX_STATUS", "obx_value", "render_oru_report", "render_oru_result"]

#: observation status → OBX-11 (table 0085); unknown is sent as R (entered, not verified)
OBX_STATUS = {
    ResultStatus.FINAL: "F",
    ResultStatus.CORRECTED: "C",
    ResultStatus.AMENDED: "C",
    ResultStatus.PRELIMINARY: "P",
    ResultStatus.REGISTERED: "I",
    ResultStatus.CANCELLED: "X",
    ResultStatus.ENTERED_IN_ERROR: "D",  # deletes the OBX record (W says "wrong patient")
    ResultStatus.UNKNOWN: "R",
}
#: report status → OBR-25 (table 0123)
OBR_STATUS = {
    ReportStatus.REGISTERED: "I",
    ReportStatus.PARTIAL: "A",
    ReportStatus.PRELIMINARY: "P",
    ReportStatus.FINAL: "F",
    ReportStatus.AMENDED: "C",
    ReportStatus.CORRECTED: "C",
    ReportStatus.APPENDED: "C",
    ReportStatus.CANCELLED: "X",
    ReportStatus.ENTERED_IN_ERROR: "X",
    ReportStatus.UNKNOWN: "",
}
#: MIME top-level type → ED.2 type of data (table 0191)
_ED_TYPE = {"application": "AP", "image": "IM", "audio": "AU", "text": "TEXT", "video": "AP"}


def _visit(msg: Message, w: Writer, item: Observation | DiagnosticReport) -> None:
    enc = item.encounter
    if enc is not None and enc.identifiers:
        visit = w.reps(w.cx(i) for i in w.select(enc.identifiers, "encounter"))
        # PV1-2 is required; a result does not say the patient class: U (unknown)
        add_segment(msg, "PV1", {1: "1", 2: "U", 19: visit})


def _start(
    event: Event, options: Hl7v2OutboundOptions, item: Observation | DiagnosticReport
) -> tuple[Message, Writer]:
    if item.patient is None:
        raise MappingError("the result names no patient", code="101", location="PID-3")
    msg, w = new_message(event, options, "ORU^R01", "ORU_R01")
    add_segment(msg, "PID", ref_pid(w, item.patient))
    _visit(msg, w, item)
    return msg, w


def render_oru_result(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """MSH, PID, [PV1], OBR, OBX, NTE*. OBR-2/OBR-3 are the placer/filler numbers of the
    order the result was reported under (when known), so a receiver files a corrected
    result under the same order; from v2.6 OBX-21 is the result's own identifier."""
    obs = entity_of(event, Observation)
    if obs.code is None:
        raise MappingError("the result has no code", code="101", location="OBX-3")
    msg, w = _start(event, options, obs)
    placer, filler = obs.placer_number, obs.filler_number
    obr = {
        1: "1",
        2: w.ei(placer.value, placer.system) if placer else "",
        3: w.ei(filler.value, filler.system) if filler else "",
        4: w.cwe(obs.code),
        7: w.dtm(obs.effective),
    }
    add_segment(msg, "OBR", obr)
    add_segment(msg, "OBX", _obx(w, obs))
    for n, note in enumerate(obs.notes, 1):
        add_segment(msg, "NTE", {1: str(n), 3: _lines(w, note)})
    return msg


def render_oru_report(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """MSH, PID, [PV1], OBR, [NTE conclusion]."""
    report = entity_of(event, DiagnosticReport)
    if report.code is None:
        raise MappingError("the report has no code", code="101", location="OBR-4")
    msg, w = _start(event, options, report)
    add_segment(msg, "OBR", _obr(w, report))
    if report.conclusion:
        add_segment(msg, "NTE", {1: "1", 3: _lines(w, report.conclusion)})
    return msg


def _obr(w: Writer, report: DiagnosticReport) -> dict[int, str]:
    """OBR-2/3 placer/filler numbers, OBR-4 code, OBR-7/8 effective, OBR-16 ordering
    provider, OBR-22 issued, OBR-24 section, OBR-25 status, OBR-32 interpreter (NDL.1)."""
    placer, filler = report.placer_number, report.filler_number
    interpreter = ""
    if report.interpreters:
        who = report.interpreters[0]
        ident = who.identifiers[0].value if who.identifiers else None
        family, _, given = (who.display or "").partition(", ")
        interpreter = w.subs(w.e(ident), w.e(family), w.e(given))
    return {
        1: "1",
        2: w.ei(placer.value, placer.system) if placer else "",
        3: w.ei(filler.value, filler.system) if filler else "",
        4: w.cwe(report.code),
        7: w.dtm(report.effective),
        8: w.dtm(report.effective_end),
        16: w.reps(w.xcn(r) for r in report.ordered_by),
        22: w.dtm(report.issued),
        24: w.e(report.category.code) if report.category else "",
        25: OBR_STATUS[report.status],
        32: interpreter,
    }


def _lines(w: Writer, text: str) -> str:
    return w.reps(w.e(line) or " " for line in text.split("\n"))


def _obx(w: Writer, obs: Observation) -> dict[int, str]:
    """OBX-2/5/6 value, OBX-3 code, OBX-4 sub-id, OBX-7 range, OBX-8 flags, OBX-11
    status (required), OBX-14 time, OBX-16 responsible observers, OBX-17 method, OBX-19
    analysis time (v2.5+), OBX-21 observation instance identifier (v2.6+), OBX-23
    performing organisation (v2.5.1+)."""
    kind, value, units = obx_value(w, obs.value)
    people = [r for r in obs.performers if r.type is EntityType.PRACTITIONER]
    labs = [r for r in obs.performers if r.type is EntityType.ORGANIZATION]
    fields = {
        1: "1",
        2: kind,
        3: w.cwe(obs.code),
        4: w.e(obs.sub_id),
        5: value,
        6: units,
        7: _range(w, obs),
        8: w.reps(_flag(w, c.code, c.display, c.system) for c in obs.interpretation),
        11: OBX_STATUS[obs.status],
        14: w.dtm(obs.effective),
        16: w.reps(w.xcn(r) for r in people),
        17: w.cwe(obs.method),
        19: w.dtm(obs.issued) if w.options.version_at_least(2, 5) else "",
    }
    if labs and w.options.version_at_least(2, 5, 1):  # OBX-23 is new in v2.5.1
        fields[23] = w.xon(labs[0])
    if obs.identifiers and w.options.version_at_least(2, 6):  # OBX-21 is new in v2.6
        ident = obs.identifiers[0]
        fields[21] = w.ei(ident.value, ident.system)
    return fields


def _flag(w: Writer, code: str | None, display: str | None, system: str | None) -> str:
    """OBX-8: IS (the code alone) before v2.7, CWE from v2.7."""
    if not w.options.version_at_least(2, 7):
        return w.e(code)
    if system == INTERPRETATION_SYSTEM:
        system = "HL70078"
    return w.comps(w.e(code), w.e(display), w.e(w.system_name(system)))


def _range(w: Writer, obs: Observation) -> str:
    rr = obs.reference_range
    if rr is None:
        return ""
    if rr.text:
        return w.e(rr.text)
    low = w.number(rr.low.value) if rr.low else ""
    high = w.number(rr.high.value) if rr.high else ""
    if low and high:
        return w.e(f"{low}-{high}")
    return w.e(f">{low}" if low else f"<{high}" if high else "")


def _unit(w: Writer, q: Quantity | None) -> str:
    if q is None or (q.unit is None and q.code is None):
        return ""
    if q.system == UCUM:
        return w.comps(w.e(q.code or q.unit), w.e(q.unit), "UCUM")
    return w.comps(
        w.e(q.code or q.unit), w.e(q.unit if q.code else None), w.e(w.system_name(q.system))
    )


def obx_value(w: Writer, value: ObservationValue | None) -> tuple[str, str, str]:
    """(OBX-2, OBX-5, OBX-6) for a canonical value; empty when there is none."""
    if value is None:
        return "", "", ""
    if value.quantity is not None:
        q = value.quantity
        if q.comparator:
            return "SN", w.comps(w.e(q.comparator), w.number(q.value)), _unit(w, q)
        if value.type == "SN":  # ^182: a structured numeric as sent, no comparator
            return "SN", w.comps("", w.number(q.value)), _unit(w, q)
        return "NM", w.number(q.value), _unit(w, q)
    if value.range is not None:
        low, high = value.range.low, value.range.high
        return "SN", w.comps("", _num(w, low), "-", _num(w, high)), _unit(w, low or high)
    if value.ratio is not None:
        num, den = value.ratio.numerator, value.ratio.denominator
        return "SN", w.comps("", _num(w, num), ":", _num(w, den)), ""
    if value.coded is not None:
        kind = "CWE" if w.options.version_at_least(2, 5) else "CE"
        return kind, w.cwe(value.coded), ""
    if value.text is not None:
        if "\n" in value.text or len(value.text) > 199 or value.type in ("TX", "FT"):
            return "TX", _lines(w, value.text), ""
        return "ST", w.e(value.text), ""
    if value.date_time is not None:
        if not hasattr(value.date_time, "hour"):
            return "DT", w.dtm(value.date_time), ""
        return ("DTM" if w.options.version_at_least(2, 6) else "TS"), w.dtm(value.date_time), ""
    if value.time is not None:
        return "TM", w.e(value.time.replace(":", "")), ""
    if value.attachment is not None:
        return _attachment(w, value.attachment)
    return "", "", ""


def _num(w: Writer, q: Quantity | None) -> str:
    return w.number(q.value) if q else ""


def _attachment(w: Writer, att: Attachment) -> tuple[str, str, str]:
    """ED (type of data, subtype, Base64, data) for bytes; RP (pointer, -, type, subtype)
    for a URL."""
    top, _, sub = (att.content_type or "application/octet-stream").partition(";")[0].partition("/")
    kind, subtype = _ED_TYPE.get(top.strip().lower(), "AP"), (sub.strip() or "octet-stream").upper()
    if att.data is None and att.url is not None:
        return "RP", w.comps(w.e(att.url), "", w.e(kind), w.e(subtype)), ""
    if att.data is None:
        raise MappingError(
            "the attachment has neither data nor a URL", code="101", location="OBX-5"
        )
    try:
        base64.b64decode(att.data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MappingError(
            "the attachment's data is not base64", code="102", location="OBX-5"
        ) from exc
    return "ED", w.comps("", w.e(kind), w.e(subtype), "Base64", w.e(att.data)), ""
