"""FHIR DocumentReference ↔ canonical Document (V2-to-FHIR TXA/OBX → DocumentReference).

``masterIdentifier`` ↔ the document's first identifier (TXA-12 unique document number),
``identifier`` ↔ the others; ``status`` (current/superseded/entered-in-error) ↔ TXA-19
availability; ``docStatus`` ↔ TXA-17 completion status; ``type`` ↔ TXA-2 (table 0270);
``date`` ↔ the last edit (TXA-8/6/4); ``context.period.start`` ↔ the activity time (TXA-4);
``author`` ↔ TXA-9/TXA-5; ``authenticator`` ↔ TXA-22/TXA-10; ``content.attachment`` ↔ the
OBX content (base64 ``data`` with its ``contentType``, or a ``url``).
"""

from __future__ import annotations

from hub.canonical import Document, EntityType, EventKind, Identifier
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import Carried, coded, identifier, leaf, reference
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
    identifier_from,
    identifier_to,
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    refs_from,
    resource_id_from,
    resource_id_to,
)

__all__ = ["MAPPING", "document_from_fhir", "document_to_fhir"]

_STATUSES = frozenset({"current", "superseded", "entered-in-error"})
_DOC_STATUSES = frozenset({"preliminary", "final", "amended", "entered-in-error"})
_AUTHORS = (EntityType.PRACTITIONER, EntityType.ORGANIZATION)


def _code(resource: Json, key: str, allowed: frozenset[str], default: str | None) -> str | None:
    value = get_str(resource, key, f"DocumentReference.{key}") or default
    if value is not None and value not in allowed:
        raise MappingError(f"unknown {key}", location=f"DocumentReference.{key}")
    return value


def document_from_fhir(resource: Json, ctx: FhirMapContext) -> Document:
    """FHIR DocumentReference → canonical Document."""
    at = "DocumentReference"
    resource = expect_resource(resource, at)
    entity_id, kept = resource_id_from(resource, EntityType.DOCUMENT, ctx)
    master = get_obj(resource, "masterIdentifier", f"{at}.masterIdentifier")
    first = identifier_from(master, f"{at}.masterIdentifier", ctx) if master else None
    idents = identifiers_from(
        get_list(resource, "identifier", f"{at}.identifier"), f"{at}.identifier", ctx
    )
    context = get_obj(resource, "context", f"{at}.context") or {}
    encounters = refs_from(
        get_list(context, "encounter", f"{at}.context.encounter"),
        f"{at}.context.encounter",
        ctx,
        (EntityType.ENCOUNTER,),
    )
    span = get_obj(context, "period", f"{at}.context.period") or {}
    related = _related_from(resource, ctx)
    content = []
    for i, item in enumerate(get_list(resource, "content", f"{at}.content")):
        where = f"{at}.content[{i}].attachment"
        att = attachment_from(get_obj(item, "attachment", where), where)
        if att is not None:
            content.append(att)
    if not content:
        raise MappingError("a document needs content with an attachment", location=f"{at}.content")
    return build(
        Document,
        ctx,
        at,
        id=entity_id,
        identifiers=[i for i in (first, *idents, *kept) if i is not None],
        status=_code(resource, "status", _STATUSES, "current"),
        doc_status=_code(resource, "docStatus", _DOC_STATUSES, None),
        type=coded_from(get_obj(resource, "type", f"{at}.type"), f"{at}.type"),
        created=when_from(span.get("start"), f"{at}.context.period.start"),
        date=datetime_from(resource.get("date"), f"{at}.date"),
        patient=ref_from(
            get_obj(resource, "subject", f"{at}.subject"),
            f"{at}.subject",
            ctx,
            (EntityType.PATIENT,),
        ),
        encounter=encounters[0] if encounters else None,
        authors=refs_from(
            get_list(resource, "author", f"{at}.author"), f"{at}.author", ctx, _AUTHORS
        ),
        authenticator=ref_from(
            get_obj(resource, "authenticator", f"{at}.authenticator"),
            f"{at}.authenticator",
            ctx,
            _AUTHORS,
        ),
        description=get_str(resource, "description", f"{at}.description"),
        content=content,
        related=[r for r, _ in related],
        relation=related[0][1] if related else None,
    )


#: relatesTo.code (document-relationship-type) the hub keeps
_RELATIONS = frozenset({"replaces", "appends", "transforms", "signs"})


def _related_from(resource: Json, ctx: FhirMapContext) -> list[tuple[Identifier, str]]:
    """relatesTo whose target names the document by identifier: (its identifier, code)."""
    at = "DocumentReference.relatesTo"
    out = []
    for i, item in enumerate(get_list(resource, "relatesTo", at)):
        code = get_str(item, "code", f"{at}[{i}].code")
        target = get_obj(item, "target", f"{at}[{i}].target") or {}
        ident = get_obj(target, "identifier", f"{at}[{i}].target.identifier")
        found = identifier_from(ident, f"{at}[{i}].target.identifier", ctx) if ident else None
        if found is not None and code in _RELATIONS:
            out.append((found, code))
    return out


def _related_to(doc: Document, ctx: FhirMapContext) -> list[Json]:
    """relatesTo (code 1..1): the parent documents by identifier, with the relation the
    record states; without one (TXA-13 on a T02/T04/T08) none is written."""
    if doc.relation is None:
        return []
    return [
        {
            "code": doc.relation,
            "target": {"type": "DocumentReference", "identifier": identifier_to(r, ctx)},
        }
        for r in doc.related
    ]


def document_to_fhir(doc: Document, ctx: FhirMapContext) -> Json:
    """Canonical Document → FHIR DocumentReference."""
    if not doc.content:
        raise MappingError("the document has no content", location="DocumentReference.content")
    # the master identifier is written whatever its system (an XDS uniqueId is a urn:oid
    # in the URI system); the others only when they are business identifiers
    own = [i for i in doc.identifiers if i.system != ctx.fhir_id_system]
    master = identifier_to(own[0], ctx) if own else None
    written = [master, *identifiers_to(own[1:], ctx)] if master else []
    encounter = ref_to(doc.encounter, ctx)
    context = compact(
        {
            "encounter": [encounter] if encounter else None,
            "period": compact({"start": datetime_to(doc.created, ctx)}) or None,
        }
    )
    return compact(
        {
            "resourceType": "DocumentReference",
            "id": resource_id_to(doc.id, doc.identifiers, EntityType.DOCUMENT, ctx),
            "masterIdentifier": written[0] if written else None,
            "identifier": written[1:],
            "status": doc.status,
            "docStatus": doc.doc_status,
            "type": coded_to(doc.type),
            "subject": ref_to(doc.patient, ctx),
            "date": instant_to(doc.date, ctx),
            "author": [r for r in (ref_to(a, ctx) for a in doc.authors) if r],
            "authenticator": ref_to(doc.authenticator, ctx),
            "description": doc.description,
            "relatesTo": _related_to(doc, ctx),
            "content": [{"attachment": attachment_to(a)} for a in doc.content],
            "context": context or None,
        }
    )


def _event(doc: Document, previous: Document | None) -> EventKind:
    return EventKind.DOCUMENT_REPORTED


_ATT = "DocumentReference.content.attachment"

MAPPING = ResourceMapping(
    resource_type="DocumentReference",
    entity_types=(EntityType.DOCUMENT,),
    to_fhir=document_to_fhir,
    from_fhir=document_from_fhir,
    event_kind=_event,
    carried=(
        *leaf("DocumentReference.id"),
        *identifier("DocumentReference.masterIdentifier"),
        *identifier("DocumentReference.identifier"),
        *leaf("DocumentReference.relatesTo.code"),
        *identifier("DocumentReference.relatesTo.target.identifier"),
        *leaf("DocumentReference.status"),
        *leaf("DocumentReference.docStatus"),
        *coded("DocumentReference.type"),
        *reference("DocumentReference.subject", ("Patient",)),
        *leaf("DocumentReference.date", "datetime"),
        *reference("DocumentReference.author", ("Practitioner", "Organization")),
        *reference("DocumentReference.authenticator", ("Practitioner", "Organization")),
        *leaf("DocumentReference.description"),
        *(Carried(f"{_ATT}.{p}") for p in ("contentType", "language", "data", "url", "title")),
        Carried(f"{_ATT}.size", "integer"),
        *reference("DocumentReference.context.encounter.first()", ("Encounter",)),
        *leaf("DocumentReference.context.period.start", "datetime"),
    ),
    notes=(
        "masterIdentifier is the document's first identifier (TXA-12); identifiers whose "
        "system is a hub bookkeeping one are not written.",
        "relatesTo is kept only when its target names the document by identifier, with "
        "code replaces/appends/transforms/signs (MDM T10/T06 TXA-13 parent); category, "
        "securityLabel, content.format, context.event, facilityType, practiceSetting, "
        "sourcePatientInfo and context.related are dropped; only the first "
        "context.encounter is kept.",
    ),
)
