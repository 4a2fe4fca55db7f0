"""document.reported → MDM^T02 (MDM_T02 structure), the inverse of ``mappings.hl7v2.mdm``.

MSH, EVN, PID, PV1 (required by the structure: class U when the document names no visit),
TXA, then the content: a text attachment as one TX OBX whose repetitions are its lines,
every other attachment as an ED OBX (Base64) or, when it is only a URL, an RP OBX.
"""

from __future__ import annotations

import base64
import binascii

from adapters.hl7v2 import Message
from hub.canonical import Attachment, Document, Event, ObservationValue
from hub.errors import MappingError

from .common import entity_of, new_message, ref_pid, write_evn
from .encode import Writer, add_segment
from .options import Hl7v2OutboundOptions
from .oru import obx_value

__all__ = ["TXA_AVAILABILITY", "TXA_COMPLETION", "render_mdm"]

#: docStatus → TXA-17 (table 0271); a document that does not say is DO (documented)
TXA_COMPLETION = {"final": "AU", "amended": "AU", "preliminary": "IP", "entered-in-error": "AU"}
#: status → TXA-19 (table 0273)
TXA_AVAILABILITY = {"current": "AV", "superseded": "OB", "entered-in-error": "CA"}


#: the document's relation to its parent (TXA-13) → the MDM trigger that says it
_TRIGGER = {"replaces": "T10", "appends": "T06"}


def render_mdm(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """MSH, EVN, PID, PV1, TXA, OBX+. A document that replaces (appends to) the one named
    in TXA-13 goes out as MDM^T10 (T06), with the MDM_T02 structure; else MDM^T02."""
    doc = entity_of(event, Document)
    if doc.patient is None:
        raise MappingError("the document names no patient", code="101", location="PID-3")
    if doc.type is None or not (doc.type.code or doc.type.display):
        raise MappingError("the document has no type", code="101", location="TXA-2")
    if not doc.content:
        raise MappingError("the document has no content", code="101", location="OBX-5")
    if not doc.identifiers and not doc.id:
        raise MappingError("the document has no number", code="101", location="TXA-12")
    trigger = _TRIGGER.get(doc.relation or "", "T02") if doc.related else "T02"
    msg, w = new_message(event, options, f"MDM^{trigger}", "MDM_T02")
    write_evn(msg, w, trigger, event)
    add_segment(msg, "PID", ref_pid(w, doc.patient))
    visit = ""
    if doc.encounter is not None and doc.encounter.identifiers:
        visit = w.reps(w.cx(i) for i in w.select(doc.encounter.identifiers, "encounter"))
    add_segment(msg, "PV1", {1: "1", 2: "U", 19: visit})
    add_segment(msg, "TXA", _txa(w, doc, options))
    code = w.cwe(doc.type)
    for n, att in enumerate(doc.content, 1):
        kind, value, _ = obx_value(w, _content_value(att))
        kind = "TX" if kind == "ST" else kind  # document text is TX, however short
        status = "F" if doc.doc_status in ("final", "amended") else "P"
        add_segment(msg, "OBX", {1: str(n), 2: kind, 3: code, 5: value, 11: status})
    return msg


def _content_value(att: Attachment) -> ObservationValue:
    """A text/plain attachment as TX lines; anything else as it is (ED or RP)."""
    media = (att.content_type or "").partition(";")[0].strip().lower()
    if media == "text/plain" and att.data is not None:
        try:
            text = base64.b64decode(att.data, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise MappingError(
                "the text content is not base64 UTF-8", code="102", location="OBX-5"
            ) from exc
        return ObservationValue(type="TX", text=text)
    return ObservationValue(type="ED", attachment=att)


def _txa(w: Writer, doc: Document, options: Hl7v2OutboundOptions) -> dict[int, str]:
    """TXA-1 set id, TXA-2 type, TXA-3 presentation (TX/AP), TXA-4 activity time, TXA-8
    edit time, TXA-9 authors, TXA-10 authenticator, TXA-12 unique document number, TXA-13
    parent document number, TXA-16
    file name, TXA-17 completion status (required), TXA-19 availability."""
    assert doc.type is not None
    texts = all((a.content_type or "").startswith("text/") for a in doc.content)
    return {
        1: "1",
        2: w.e(doc.type.code or doc.type.display),
        3: "TX" if texts else "AP",
        4: w.dtm(doc.created),
        8: w.dtm(doc.date),
        9: w.reps(w.xcn(r) for r in doc.authors),
        10: w.xcn(doc.authenticator) if doc.authenticator else "",
        12: _document_number(w, doc, options),
        13: w.ei(doc.related[0].value, doc.related[0].system) if doc.related else "",
        16: w.e(doc.description),
        17: TXA_COMPLETION.get(doc.doc_status or "", "DO"),
        19: TXA_AVAILABILITY.get(doc.status, "AV"),
    }


def _document_number(w: Writer, doc: Document, options: Hl7v2OutboundOptions) -> str:
    """TXA-12 (EI, required): the document's first identifier (FHIR masterIdentifier, the
    TXA-12 it came with); a document without one (a FHIR DocumentReference with only a
    resource id, as Synthea writes them) is numbered by the hub: its canonical record id
    in the sending application's namespace (``3cbcef21-…^CAREHUB``), the same number every
    time the same document is sent, new or amended."""
    if doc.identifiers:
        first = doc.identifiers[0]
        return w.ei(first.value, first.system)
    if not doc.id:
        raise MappingError("the document has no number", code="101", location="TXA-12")
    return w.comps(w.e(doc.id), w.e(options.sending_application))
