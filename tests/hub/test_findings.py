"""Finding codes are one vocabulary (FHIR issue-type), checked when a finding is made."""

import pytest

from hub.findings import Finding, IssueType, Report, Severity


def test_a_code_given_as_text_is_read_into_the_issue_type_enum() -> None:
    report = Report()
    finding = report.error("not-supported", "no mapping for ADT^A99", "MSH-9")
    assert finding.code is IssueType.NOT_SUPPORTED
    assert finding.as_dict()["code"] == "not-supported"


def test_an_unknown_code_is_refused_when_the_finding_is_made() -> None:
    with pytest.raises(ValueError, match="not-a-code"):
        Finding(Severity.ERROR, "not-a-code", "typo in a rule")


def test_an_unknown_severity_is_refused_too() -> None:
    with pytest.raises(ValueError):
        Finding("severe", "value", "typo in a rule")  # type: ignore[arg-type]
