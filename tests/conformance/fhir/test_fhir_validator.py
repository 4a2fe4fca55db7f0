"""One FHIR validator, in conformance/fhir: ``check_resource`` (findings) and
``validate_fhir`` (raise at the first problem) are the same R4B check, naming the same element."""

from __future__ import annotations

from typing import Any

import pytest

import mappings.fhir
from conformance.fhir import check_resource, validate_fhir
from hub.errors import MappingError, UnsupportedMessage

BAD = [
    ({"resourceType": "Patient", "gender": 5}, "Patient.gender"),
    ({"resourceType": "Patient", "birthDate": "1970-13-01"}, "Patient.birthDate"),
    ({"resourceType": "Patient", "name": [{"family": 5}]}, "Patient.name[0].family"),
]


@pytest.mark.parametrize(("resource", "where"), BAD)
def test_both_forms_name_the_same_first_element(resource: dict[str, Any], where: str) -> None:
    report = check_resource(resource)
    assert not report.ok and report.findings[0].location == where
    with pytest.raises(MappingError) as caught:
        validate_fhir(resource)
    assert caught.value.location == where
    assert caught.value.message.startswith(report.findings[0].text)


def test_a_valid_resource_passes_both() -> None:
    patient = {"resourceType": "Patient", "birthDate": "1970-01-01"}
    assert check_resource(patient).ok
    validate_fhir(patient)


@pytest.mark.parametrize("resource", [{"resourceType": "NoSuchThing"}, {}, ["Patient"]])
def test_what_is_no_fhir_resource_is_unsupported(resource: Any) -> None:
    with pytest.raises(UnsupportedMessage):
        validate_fhir(resource)
    assert not check_resource(resource).ok


def test_the_mappings_carry_no_second_validator() -> None:
    assert not hasattr(mappings.fhir, "validate_fhir")
