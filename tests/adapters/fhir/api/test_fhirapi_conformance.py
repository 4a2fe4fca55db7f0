"""conformance/fhir: R4B checks naming element paths, and findings as OperationOutcome."""

from __future__ import annotations

from fhir.resources.R4B.operationoutcome import OperationOutcome

from conformance.fhir import MAX_FINDINGS, check_resource, operation_outcome
from hub.findings import Report


def test_a_valid_resource_has_no_findings() -> None:
    assert check_resource({"resourceType": "Patient", "birthDate": "1970-01-01"}).findings == []


def test_findings_name_the_element_path_and_the_kind_of_problem() -> None:
    report = check_resource(
        {"resourceType": "Patient", "birthDate": "1970-13-01", "name": [{"family": 3}], "x": 1},
        prefix="Bundle.entry[2].resource.",
    )
    by_location = {f.location: f.code for f in report.errors}
    assert by_location == {
        "Bundle.entry[2].resource.Patient.birthDate": "value",
        "Bundle.entry[2].resource.Patient.name[0].family": "value",
        "Bundle.entry[2].resource.Patient.x": "structure",
    }


def test_unknown_types_and_non_objects() -> None:
    assert check_resource({"resourceType": "Nope"}).errors[0].code == "not-supported"
    assert check_resource({}).errors[0].location == "resourceType"
    assert check_resource([1]).errors[0].code == "structure"


def test_the_finding_count_is_bounded() -> None:
    resource = {"resourceType": "Patient", **{f"bad{i}": i for i in range(MAX_FINDINGS + 5)}}
    report = check_resource(resource)
    assert len(report.errors) == MAX_FINDINGS + 1
    assert "5 more" in report.errors[-1].text


def test_operation_outcome_renders_findings_and_validates() -> None:
    report = Report()
    report.error("value", "bad date", "Patient.birthDate", format_code="X1")
    report.warning("processing", "something")
    body = operation_outcome(report)
    OperationOutcome.model_validate(body)
    first, second = body["issue"]
    assert (
        first["expression"] == ["Patient.birthDate"]
        and first["details"]["coding"][0]["code"] == "X1"
    )
    assert second["code"] == "processing" and second["severity"] == "warning"
    empty = operation_outcome(Report())
    assert empty["issue"][0]["code"] == "informational"
