"""Findings → FHIR ``OperationOutcome`` (R4 4.0.1).

One issue per finding: ``severity`` and ``code`` as they are (a finding's code is always a
FHIR IssueType, :class:`hub.findings.IssueType`), ``diagnostics`` the finding's text,
``expression`` its location (FHIRPath, R4's replacement for the deprecated ``location``), and
the format's own code, when there is one, as ``details.coding``.
"""

from __future__ import annotations

import json
from typing import Any

from hub.findings import Finding, Report

__all__ = ["operation_outcome", "outcome_bytes"]

_DETAIL_SYSTEM = "urn:carehub:finding-code"


def _issue(finding: Finding) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": finding.severity.value,
        "code": str(finding.code),
        "diagnostics": finding.text,
    }
    if finding.format_code:
        issue["details"] = {"coding": [{"system": _DETAIL_SYSTEM, "code": finding.format_code}]}
    if finding.location:
        issue["expression"] = [finding.location]
    return issue


def operation_outcome(report: Report, *, ok_text: str = "All OK") -> dict[str, Any]:
    """The OperationOutcome of ``report``; an empty report gives one ``informational`` issue
    (``issue`` is 1..*)."""
    issues = [_issue(f) for f in report.findings]
    if not issues:
        issues = [{"severity": "information", "code": "informational", "diagnostics": ok_text}]
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_bytes(report: Report, *, ok_text: str = "All OK") -> bytes:
    """``operation_outcome`` as compact UTF-8 JSON."""
    body = operation_outcome(report, ok_text=ok_text)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
