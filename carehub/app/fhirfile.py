"""FHIR JSON files (a resource, or a Bundle of any type) as an inbound format, for
``carehub validate`` and ``carehub convert``.

The hub takes FHIR over REST only, where ``carehub.app.fhir.FhirInboundFormat`` runs over a
write plan built against the store (conditional targets, canonical ids). A file has no
request and no store, so it has this format of its own, built from the same two steps the
write planner and ``$validate`` run on every resource: the FHIR checks
(``conformance.fhir.check_resource``) and the mapping (``mappings.fhir.from_fhir``), with
locations prefixed the same way (``Bundle.entry[3].resource.Patient.birthDate``). Unlike a
write, a resource type the hub does not map is a note, not an error: a Bundle read from a
file commonly holds Observations next to the Patient it is about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from conformance.fhir import check_resource
from hub.canonical import Entity, Event, EventKind
from hub.context import MapContext
from hub.errors import MappingError, ParseError, UnsupportedMessage
from hub.findings import Report
from hub.judge import MessageIdentity
from mappings.fhir import FhirMapContext, event_kind, from_fhir

__all__ = ["FhirFile", "FhirFileFormat", "Mapped"]

Json = dict[str, Any]


@dataclass
class Mapped:
    """One resource of the file that maps, with the event it would raise."""

    resource_type: str
    entity: Entity
    kind: EventKind


@dataclass
class FhirFile:
    """A parsed file: the resource, its resources with their location prefix, and (after
    ``check``) those that map."""

    resource: Json
    resources: list[tuple[str, Json]]
    mapped: list[Mapped] = field(default_factory=list)


class FhirFileFormat:
    """The judging part of an ``InboundFormat`` for one FHIR JSON file."""

    format = "fhir"

    def __init__(self, *, system: str = "cli"):
        self.context = FhirMapContext(source=system)

    def parse(self, raw: bytes) -> FhirFile:
        """JSON (UTF-8, a BOM allowed) holding an object with a ``resourceType``."""
        try:
            value = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            line = getattr(exc, "lineno", 1)
            raise ParseError(f"not valid JSON: {exc}", location=f"line {line}") from exc
        if not isinstance(value, dict) or "resourceType" not in value:
            raise ParseError("not a FHIR resource: no resourceType", location="resourceType")
        return FhirFile(value, _resources(value))

    def identify(self, native: FhirFile) -> MessageIdentity:
        """Resource type and ``id``; a file has no de-duplication key."""
        control = native.resource.get("id")
        return MessageIdentity(
            str(native.resource.get("resourceType")),
            control if isinstance(control, str) else None,
            None,
        )

    def check(self, native: FhirFile) -> Report:
        """The FHIR checks, then a trial mapping, of every resource."""
        report = Report()
        for prefix, resource in native.resources:
            found = check_resource(resource, prefix=prefix)
            report.extend(found)
            if found.ok:
                self._map_one(native, prefix, resource, report)
        return report

    def _map_one(self, native: FhirFile, prefix: str, resource: Json, report: Report) -> None:
        rtype = str(resource.get("resourceType"))
        try:
            mapped = from_fhir(resource, self.context)
        except UnsupportedMessage as exc:
            report.info("not-supported", f"no mapping: {exc.message}", prefix.rstrip(".") or None)
            return
        except MappingError as exc:
            report.error("value", exc.message, f"{prefix}{exc.location or ''}" or None)
            return
        for entity in mapped if isinstance(mapped, list) else [mapped]:
            kind = event_kind(rtype, entity)
            if kind is None:
                report.info(
                    "informational", f"{rtype}: no event to emit", prefix.rstrip(".") or None
                )
            else:
                native.mapped.append(Mapped(rtype, entity, kind))

    def map(self, native: FhirFile, ctx: MapContext) -> list[Event]:
        """One event per resource that maps (``check`` mapped them)."""
        return [
            Event(kind=m.kind, entity=m.entity, provenance=ctx.provenance(m.resource_type))
            for m in native.mapped
        ]


def _resources(resource: Json) -> list[tuple[str, Json]]:
    """``[("", resource)]``, or a Bundle's entry resources with their location prefix."""
    if resource.get("resourceType") != "Bundle":
        return [("", resource)]
    out = []
    for i, entry in enumerate(resource.get("entry") or []):
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(inner, dict):
            out.append((f"Bundle.entry[{i}].resource.", inner))
    return out
