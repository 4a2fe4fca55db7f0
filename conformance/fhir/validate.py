"""Check one FHIR resource (JSON) against the fhir.resources R4B model of its type — the
hub's one FHIR validator, for what comes in (the API, ``carehub validate``) and what goes out
(deliveries, the mappings' golden tests).

``check_resource`` turns every problem into a finding whose ``location`` is the element path
in FHIRPath style (``Patient.birthDate``, ``Patient.name[0].family``), so a 422 can name what
is wrong. ``validate_fhir`` is the same check for code that must stop at the first problem
(a resource the hub rendered itself): it raises. For the resources the hub serves, R4B is R4
(docs/fhir-mappings.md, "FHIR version").
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hub.errors import MappingError, UnsupportedMessage
from hub.findings import Report

__all__ = ["MAX_FINDINGS", "check_resource", "element_path", "validate_fhir"]

#: findings reported per resource; the rest are counted in one last finding
MAX_FINDINGS = 20

#: pydantic error type → FHIR issue type
_ISSUE = {
    "missing": "required",
    "extra_forbidden": "structure",
    "value_error": "value",
    "string_type": "value",
    "list_type": "structure",
    "dict_type": "structure",
    "model_type": "structure",
}


def element_path(resource_type: str, loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``("name", 0, "family")`` → ``Patient.name[0].family`` (after ``prefix``)."""
    path = f"{prefix}{resource_type}"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None


def check_resource(resource: Any, *, prefix: str = "") -> Report:
    """Findings for ``resource`` (empty when it validates). ``prefix`` is prepended to every
    location, e.g. ``Bundle.entry[3].resource.`` for a Bundle entry."""
    report = Report()
    if not isinstance(resource, dict):
        report.error("structure", "a FHIR resource must be a JSON object", prefix or None)
        return report
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind:
        report.error("required", "resourceType is missing", f"{prefix}resourceType")
        return report
    model = _model(kind)
    if model is None:
        report.error(
            "not-supported", f"unknown FHIR resource type {kind!r}", f"{prefix}resourceType"
        )
        return report
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        _add_errors(report, kind, exc, prefix)
    return report


def _add_errors(report: Report, kind: str, exc: ValidationError, prefix: str) -> None:
    errors = exc.errors(include_url=False, include_input=False)
    for err in errors[:MAX_FINDINGS]:
        code = _ISSUE.get(err["type"], "invalid")
        # pydantic's message names the rule, not the value (include_input=False)
        report.error(code, err["msg"], element_path(kind, tuple(err["loc"]), prefix))
    if len(errors) > MAX_FINDINGS:
        report.error("invalid", f"{len(errors) - MAX_FINDINGS} more problem(s) not listed", None)


def validate_fhir(resource: Any) -> None:
    """Raise for the first problem of ``resource``: ``UnsupportedMessage`` when its type is
    not a FHIR resource type, ``MappingError`` naming the element path otherwise (the text
    counts the problems)."""
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    model = _model(str(kind))
    if model is None:
        raise UnsupportedMessage(f"unknown FHIR resource type {kind!r}", location="resourceType")
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise MappingError(
            f"{first['msg']} ({exc.error_count()} problem(s))",
            location=element_path(str(kind), tuple(first["loc"])),
        ) from exc
