"""What the hub says about a FHIR resource before writing it: FHIR conformance (the R4B
models, ``conformance.fhir.check_resource`` — the one FHIR validator) and then the mapping to
the canonical model, each problem a finding with its element path.

A write (``writes.py``) and ``$validate`` run the same two steps, so ``$validate`` answers
exactly what a write of the resource would.
"""

from __future__ import annotations

from typing import Any

from conformance.fhir import check_resource
from hub.errors import MappingError, UnsupportedMessage
from hub.findings import Report
from mappings.fhir import FhirMapContext, from_fhir

__all__ = ["check_write", "map_resource"]

Json = dict[str, Any]


def check_write(resource: Json, ctx: FhirMapContext) -> Report:
    """``$validate``: the conformance findings, then (when there are none) the mapping's."""
    report = check_resource(resource)
    if report.ok:
        map_resource(resource, ctx, report)
    return report


def map_resource(resource: Json, ctx: FhirMapContext, report: Report, prefix: str = "") -> Any:
    """The canonical value of ``resource`` (an entity; a list for Schedule/Slot), or ``None``
    with the mapping's finding in ``report``: ``not-supported`` for what the hub does not map,
    ``value`` for a value it cannot take; locations after ``prefix`` (``Bundle.entry[2].``)."""
    try:
        return from_fhir(resource, ctx)
    except UnsupportedMessage as exc:
        report.error("not-supported", exc.message, f"{prefix}{exc.location or ''}" or None)
    except MappingError as exc:
        report.error("value", exc.message, f"{prefix}{exc.location or ''}" or None)
    return None
