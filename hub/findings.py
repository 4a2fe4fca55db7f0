"""Findings as data.

One report type for every format, shaped like FHIR ``OperationOutcome.issue``: severity, code,
location, text. Renderers turn a report into an HL7 ACK (MSA/ERR), an OperationOutcome, an
X12 999 or TA1; the checking code never builds an acknowledgement itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Finding", "Report", "Severity"]


class Severity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding.

    ``code`` is a FHIR issue-type code (``invalid``, ``required``, ``value``, ``not-supported``,
    ``structure``, ``too-long``, ``duplicate``, …); ``format_code`` is the format's own code
    (HL7 table 0357, TA1 note code I18, X12 IK3/IK4 error code) when there is one.
    ``location`` is in the format's terms (``PID-3``, ``ISA13``, ``Patient.name[0].family``).
    """

    severity: Severity
    code: str
    text: str
    location: str | None = None
    format_code: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity in (Severity.FATAL, Severity.ERROR)

    def as_dict(self) -> dict[str, str]:
        d = {"severity": self.severity.value, "code": self.code, "text": self.text}
        if self.location:
            d["location"] = self.location
        if self.format_code:
            d["format_code"] = self.format_code
        return d


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(
        self,
        severity: Severity,
        code: str,
        text: str,
        location: str | None = None,
        format_code: str | None = None,
    ) -> Finding:
        f = Finding(severity, code, text, location, format_code)
        self.findings.append(f)
        return f

    def error(
        self, code: str, text: str, location: str | None = None, format_code: str | None = None
    ) -> Finding:
        return self.add(Severity.ERROR, code, text, location, format_code)

    def warning(
        self, code: str, text: str, location: str | None = None, format_code: str | None = None
    ) -> Finding:
        return self.add(Severity.WARNING, code, text, location, format_code)

    def info(
        self, code: str, text: str, location: str | None = None, format_code: str | None = None
    ) -> Finding:
        return self.add(Severity.INFORMATION, code, text, location, format_code)

    def extend(self, other: Report) -> None:
        self.findings.extend(other.findings)

    @property
    def ok(self) -> bool:
        return not any(f.is_error for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    def as_list(self) -> list[dict[str, str]]:
        return [f.as_dict() for f in self.findings]
