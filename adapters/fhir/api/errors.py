"""The API's errors: ``FhirError`` carries the HTTP status and the one issue of its
OperationOutcome; ``AnswerFailed`` a request that failed whole with an answer already made.
``middleware.py`` renders both (FHIR http.html: errors SHOULD carry an OperationOutcome).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.findings import Report, Severity

__all__ = ["AnswerFailed", "FhirError"]

Json = dict[str, Any]


class FhirError(Exception):
    """An interaction that must end with ``status`` and an OperationOutcome of one issue.

    ``code`` is a FHIR IssueType; ``location`` the element (``Patient.id``), if any.
    """

    def __init__(
        self,
        status: int,
        code: str,
        text: str,
        *,
        location: str | None = None,
        headers: Mapping[str, str] | None = None,
        severity: Severity = Severity.ERROR,
        head: bytes = b"",
    ):
        super().__init__(text)
        #: the first bytes of a request body refused while it was read (413), to be kept
        self.head = head
        self.status = status
        self.code = code
        self.text = text
        self.location = location
        self.headers = dict(headers or {})
        self.severity = severity

    def report(self) -> Report:
        report = Report()
        report.add(self.severity, self.code, self.text, self.location)
        return report


class AnswerFailed(Exception):
    """A request that failed as a whole with an OperationOutcome already rendered (a
    transaction whose entry failed)."""

    def __init__(self, status: int, body: Json | None, headers: Mapping[str, str] | None = None):
        super().__init__(f"failed with {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
