"""Findings as data.

One report type for every format, shaped like FHIR ``OperationOutcome.issue``: severity, code,
location, text. Renderers turn a report into an HL7 ACK (MSA/ERR), an OperationOutcome, an
X12 999 or TA1; the checking code never builds an acknowledgement itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Finding", "IssueType", "Report", "Severity"]


class Severity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


class IssueType(StrEnum):
    """FHIR R4 ``OperationOutcome.issue.code`` (value set ``issue-type``), the one vocabulary
    of finding codes for every format; the format's own code goes in ``format_code``."""

    INVALID = "invalid"
    STRUCTURE = "structure"
    REQUIRED = "required"
    VALUE = "value"
    INVARIANT = "invariant"
    SECURITY = "security"
    LOGIN = "login"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    FORBIDDEN = "forbidden"
    SUPPRESSED = "suppressed"
    PROCESSING = "processing"
    NOT_SUPPORTED = "not-supported"
    DUPLICATE = "duplicate"
    MULTIPLE_MATCHES = "multiple-matches"
    NOT_FOUND = "not-found"
    DELETED = "deleted"
    TOO_LONG = "too-long"
    CODE_INVALID = "code-invalid"
    EXTENSION = "extension"
    TOO_COSTLY = "too-costly"
    BUSINESS_RULE = "business-rule"
    CONFLICT = "conflict"
    TRANSIENT = "transient"
    LOCK_ERROR = "lock-error"
    NO_STORE = "no-store"
    EXCEPTION = "exception"
    TIMEOUT = "timeout"
    INCOMPLETE = "incomplete"
    THROTTLED = "throttled"
    INFORMATIONAL = "informational"


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding.

    ``code`` is a FHIR issue-type code (``invalid``, ``required``, ``value``, ``not-supported``,
    ``structure``, ``too-long``, ``duplicate``, …); ``format_code`` is the format's own code
    (HL7 table 0357, TA1 note code I18, X12 IK3/IK4 error code) when there is one.
    ``location`` is in the format's terms (``PID-3``, ``ISA13``, ``Patient.name[0].family``).
    A code given as a string is read into :class:`IssueType` (an unknown one raises
    ``ValueError``: a finding never carries a code the renderers cannot map); compare codes with
    the enum members, never with strings.
    """

    severity: Severity
    code: str
    text: str
    location: str | None = None
    format_code: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", IssueType(self.code))
        object.__setattr__(self, "severity", Severity(self.severity))

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
