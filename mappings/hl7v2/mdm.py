"""MDM^T02 original document notification and content (and T04/T06/T08/T10, the status
change, addendum, edit and replacement notifications with content) → ``document.reported``
(HL7 v2.5.1 chapter 9.6; V2-to-FHIR MDM_T02 → DocumentReference), plus ``patient.updated``
from the PID.

TXA describes the document, the OBX segments carry it: TX/FT/ST lines are joined into one
``text/plain`` attachment, each ED (or RP) OBX is an attachment of its own. Other OBX value
types (an HD naming a DICOM study, a code) are not content and are dropped.
"""

from __future__ import annotations

import base64

from adapters.hl7v2 import Message
from hub.canonical import Attachment, Coded, Document, Event, EventKind
from hub.context import MapContext
from hub.errors import MappingError

from .datatypes import ei_identifier, xcn_ref
from .obx import observation_value
from .oru import visit_ref
from .segments import patient, patient_ref, stamp
from .source import Hl7v2Source, Mapper, Seg, declare_emits, rep_text

__all__ = ["DOC_STATUS", "MDM_TRIGGERS", "RELATION", "map_mdm", "mdm_mapper"]

V2_0270 = "http://terminology.hl7.org/CodeSystem/v2-0270"
#: the MDM triggers that carry content (the odd ones, notification only, do not)
MDM_TRIGGERS = ("T02", "T04", "T06", "T08", "T10")

#: HL7 table 0271 (TXA-17 completion status) → FHIR composition-status (docStatus)
DOC_STATUS = {
    "AU": "final",  # authenticated
    "LA": "final",  # legally authenticated
    "DI": "preliminary",  # dictated
    "DO": "preliminary",  # documented
    "IN": "preliminary",  # incomplete
    "IP": "preliminary",  # in progress
    "PA": "preliminary",  # pre-authenticated
}
#: HL7 table 0273 (TXA-19 availability) → FHIR document-reference-status
_AVAILABILITY = {"AV": "current", "UN": "current", "OB": "superseded", "CA": "entered-in-error"}
_TEXT = frozenset({"TX", "FT", "ST"})
#: MDM trigger → how the document relates to its TXA-13 parent (FHIR document-relationship-type)
RELATION = {"T06": "appends", "T10": "replaces"}


def map_mdm(src: Hl7v2Source) -> list[Event]:
    """MDM: PID → the patient, TXA + OBX → one Document."""
    pat = stamp(src, patient(src, src.require("PID")))
    subjects = list(pat.identifiers)
    doc = _document(src, src.require("TXA"))
    _relate(src, src.require("TXA"), doc)
    doc.patient, doc.encounter = patient_ref(pat), visit_ref(src, src.one("PV1"))
    return [
        src.event(EventKind.PATIENT_UPDATED, pat, src.message_time, subjects),
        src.event(EventKind.DOCUMENT_REPORTED, stamp(src, doc), src.message_time, subjects),
    ]


def _document(src: Hl7v2Source, txa: Seg) -> Document:
    """TXA-12 unique document number (else TXA-16 file name, else MSH-10), TXA-2 type,
    TXA-4 activity time, TXA-5/TXA-9 authors, TXA-10/TXA-22 authenticator, TXA-6/TXA-8
    dates, TXA-17 completion status, TXA-19 availability; OBX-5 the content."""
    ident = ei_identifier(src, txa.first(12), "document")
    if ident is None:
        name = txa.text(16) or src.msh.text(10)
        if name is None:
            raise MappingError("the document has no number (TXA-12)", code="101", location="TXA-12")
        ident = src.identifier(name, src.namespace("document"))
    kind = txa.text(2)
    authors = [r for f in (9, 5) for rep in txa.reps(f) if (r := xcn_ref(src, rep))]
    authenticator = next(
        (r for f in (22, 10) for rep in txa.reps(f) if (r := xcn_ref(src, rep))), None
    )
    availability = (txa.text(19) or "").upper()
    return Document(
        identifiers=[ident],
        status=_AVAILABILITY.get(availability, "current"),
        doc_status=DOC_STATUS.get((txa.text(17) or "").upper()),
        type=Coded(code=kind, system=V2_0270, display=txa.text(2, 2)) if kind else None,
        created=src.when_of(txa, 4),
        date=src.datetime_of(txa, 8) or src.datetime_of(txa, 6) or src.datetime_of(txa, 4),
        authors=authors,
        authenticator=authenticator,
        description=txa.text(16),
        content=_content(src, txa),
    )


def _relate(src: Hl7v2Source, txa: Seg, doc: Document) -> None:
    """TXA-13 parent document number → ``related``; an addendum (T06) appends to it, a
    replacement (T10) replaces it, so the old document can be marked superseded."""
    parent = ei_identifier(src, txa.first(13), "document")
    if parent is None:
        return
    doc.related = [parent]
    doc.relation = RELATION.get(src.message_key.partition("^")[2])


def _content(src: Hl7v2Source, txa: Seg) -> list[Attachment]:
    """The OBX after TXA: text lines joined into one text/plain attachment, ED/RP each one
    attachment. A document with none is refused: content is what MDM^T02 is for."""
    lines: list[str] = []
    out: list[Attachment] = []
    for obx in src.all("OBX"):
        value = observation_value(src, obx)
        if value is None:
            continue
        if value.type in _TEXT and value.text is not None:
            lines.append(value.text)
        elif value.attachment is not None:
            title = rep_text(obx.first(3), 2)
            out.append(value.attachment.model_copy(update={"title": title}))
    if lines:
        data = "\n".join(lines).encode("utf-8")
        text = Attachment(
            content_type="text/plain; charset=utf-8",
            data=base64.b64encode(data).decode("ascii"),
            size=len(data),
        )
        out.insert(0, text)
    if not out:
        raise MappingError(
            "the document has no content (no TX, FT, ST, ED or RP OBX)",
            code="101",
            location="OBX-5",
        )
    return out


def mdm_mapper(trigger: str) -> Mapper:
    """The INBOUND entry for ``MDM^<trigger>``."""

    def mapper(msg: Message, ctx: MapContext) -> list[Event]:
        return map_mdm(Hl7v2Source(msg, ctx, f"MDM^{trigger}"))

    mapper.__name__ = f"map_mdm_{trigger.lower()}"
    mapper.__doc__ = f"MDM^{trigger} → canonical events."
    return declare_emits(mapper, EventKind.PATIENT_UPDATED, EventKind.DOCUMENT_REPORTED)
