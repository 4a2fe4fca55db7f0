"""The COVERAGE tables, coverage_report(), the FHIRPath subset they are written in, and the
public surface."""

from __future__ import annotations

import json

import pytest

from mappings.fhir import FHIR_MAPPINGS, coverage_report
from mappings.fhir.fhirpath import compile_path, element_paths, evaluate

RESOURCE = {
    "resourceType": "Patient",
    "identifier": [{"system": "a", "value": "1"}, {"system": "b"}, {"value": "3"}],
    "name": [{"given": ["A", "B"], "prefix": ["Dr", "Prof"]}, {"given": ["C"]}],
    "link": [
        {"type": "seealso", "other": {"reference": "Patient/x"}},
        {"type": "replaced-by", "other": {"reference": "Patient/y"}},
    ],
}


@pytest.mark.parametrize(
    ("expression", "values"),
    [
        ("Patient.identifier.value", ["1", "3"]),
        ("Patient.identifier.where(value.exists()).system", ["a"]),
        ("Patient.identifier.where(value.empty()).system", ["b"]),
        ("Patient.identifier.first().system", ["a"]),
        ("Patient.identifier.last().value", ["3"]),
        ("Patient.identifier[1].system", ["b"]),
        ("Patient.name.given", ["A", "B", "C"]),
        ("Patient.name.select(given.first())", ["A", "C"]),
        ("Patient.name.select(prefix.first())", ["Dr"]),
        ("Patient.link.where(type = 'replaced-by').other.reference", ["Patient/y"]),
        ("Patient.link.where(type != 'replaced-by').other.reference", ["Patient/x"]),
        ("Patient.link.other.where(reference.matches('^Patient/y$')).reference", ["Patient/y"]),
        ("Patient.identifier.where(system = 'a' or value = '3').value", ["1", "3"]),
        ("Patient.identifier.where(system = 'a' and value = '3').value", []),
        ("Patient.identifier.where(value.exists().not()).system", ["b"]),
        ("Patient.nothing.here", []),
    ],
)
def test_the_fhirpath_subset(expression: str, values: list[str]) -> None:
    assert evaluate(expression, RESOURCE) == values


@pytest.mark.parametrize(
    "bad",
    [
        "Patient.name.count()",
        "Patient.(name",
        "Patient.name = 3",
        "Patient..name",
        "Patient.name.where(given",
    ],
)
def test_expressions_outside_the_subset_fail_loudly(bad: str) -> None:
    with pytest.raises(ValueError):
        compile_path(bad)


def test_element_paths_include_what_where_compares() -> None:
    assert element_paths("Patient.link.where(type='replaced-by').other.reference") == [
        "Patient.link.other.reference",
        "Patient.link.type",
    ]
    assert element_paths("Patient.name.select(prefix.first())") == ["Patient.name.prefix"]


def test_the_report_covers_every_resource_and_is_json() -> None:
    report = coverage_report()
    assert set(report) == set(FHIR_MAPPINGS)
    json.dumps(report)
    for name, entry in report.items():
        assert entry["dropped"], name
        assert entry["entity_types"], name
        if name not in ("Schedule", "Slot"):
            assert entry["carried"], name


def test_dropped_and_carried_do_not_overlap() -> None:
    report = coverage_report()
    patient = report["Patient"]
    assert {
        "Patient.photo",
        "Patient.managingOrganization",
        "Patient.name.period",
        "Patient.telecom.rank",
        "Patient.identifier.use",
    } <= set(patient["dropped"])
    for dropped in patient["dropped"]:
        assert not any(element_paths(c)[0] == dropped for c in patient["carried"])
    assert "Patient.name" not in patient["dropped"]
    assert "Patient.birthDate" not in patient["dropped"]


def test_availability_is_reported_as_wholly_dropped() -> None:
    schedule = coverage_report()["Schedule"]
    assert schedule["carried"] == []
    assert {"Schedule.actor", "Schedule.planningHorizon"} <= set(schedule["dropped"])
