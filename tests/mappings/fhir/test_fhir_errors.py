"""Only hub.errors escape, and a MappingError names the element path."""

from __future__ import annotations

from typing import Any

import pytest
from fhirmap_fixtures import RICH

from conformance.fhir import validate_fhir
from hub.canonical import Patient
from hub.errors import CarehubError, MappingError, UnsupportedMessage
from mappings.fhir import FHIR_MAPPINGS, FhirMapContext, from_bundle, from_fhir, to_fhir


@pytest.mark.parametrize(
    ("resource", "location"),
    [
        ({"resourceType": "Patient", "birthDate": "1974-13-45"}, "Patient.birthDate"),
        ({"resourceType": "Patient", "birthDate": 1974}, "Patient.birthDate"),
        ({"resourceType": "Patient", "gender": "robot"}, "Patient.gender"),
        ({"resourceType": "Patient", "name": "Peter"}, "Patient.name"),
        ({"resourceType": "Patient", "name": [{"given": "Peter"}]}, "Patient.name[0].given"),
        ({"resourceType": "Patient", "deceasedDateTime": "yesterday"}, "Patient.deceasedDateTime"),
        (
            {"resourceType": "Appointment", "status": "maybe", "participant": []},
            "Appointment.status",
        ),
        ({"resourceType": "Encounter", "status": "teleported"}, "Encounter.status"),
        (
            {
                "resourceType": "Claim",
                "type": {"coding": [{"code": "oral"}]},
                "total": {"value": "lots"},
            },
            "Claim.total.value",
        ),
        ({"resourceType": "Coverage", "order": "first"}, "Coverage.order"),
        ({"resourceType": "PractitionerRole"}, "PractitionerRole.practitioner"),
    ],
)
def test_bad_values_name_their_element(
    resource: dict[str, Any], location: str, ctx: FhirMapContext
) -> None:
    with pytest.raises(MappingError) as caught:
        from_fhir(resource, ctx)
    assert caught.value.location == location


def test_a_partial_birth_date_is_dropped_not_refused(ctx: FhirMapContext) -> None:
    patient = from_fhir({"resourceType": "Patient", "birthDate": "1974"}, ctx)
    assert isinstance(patient, Patient) and patient.birth_date is None


@pytest.mark.parametrize("garbage", [None, [], "Patient", {"resourceType": 7}, {}])
def test_garbage_is_refused_with_hub_errors(garbage: Any, ctx: FhirMapContext) -> None:
    with pytest.raises(CarehubError):
        from_fhir(garbage, ctx)


@pytest.mark.parametrize("resource_type", sorted(FHIR_MAPPINGS))
def test_malformed_elements_never_escape_as_python_errors(
    resource_type: str, ctx: FhirMapContext
) -> None:
    """Every top-level element of the R4B model set to a wrong JSON shape: the mapping
    either ignores the element (dropped) or raises a hub error, never TypeError & co."""
    from fhir.resources.R4B import get_fhir_model_class

    refused = 0
    for element in get_fhir_model_class(resource_type).elements_sequence():
        for wrong in (12, "x", [1], {"a": 1}, [{"b": 2}]):
            resource = {"resourceType": resource_type, element: wrong}
            try:
                from_fhir(resource, ctx)
            except CarehubError:
                refused += 1
    if resource_type not in ("Schedule", "Slot"):  # they read nothing, so refuse nothing
        assert refused > 0


def test_a_specific_mapping_refuses_another_resource_type(ctx: FhirMapContext) -> None:
    with pytest.raises(UnsupportedMessage) as caught:
        FHIR_MAPPINGS["Patient"].from_fhir({"resourceType": "Practitioner"}, ctx)
    assert caught.value.location == "Patient.resourceType"


def test_an_entity_cannot_be_written_as_an_unrelated_resource(ctx: FhirMapContext) -> None:
    with pytest.raises(MappingError) as caught:
        to_fhir(RICH["Patient"](), ctx, "Claim")
    assert caught.value.location == "Claim"


def test_a_bundle_error_says_which_entry(ctx: FhirMapContext) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient"}},
            {"resource": {"resourceType": "Patient", "birthDate": "never"}},
        ],
    }
    with pytest.raises(MappingError) as caught:
        from_bundle(bundle, ctx)
    assert caught.value.location == "Bundle.entry[1].resource.Patient.birthDate"


def test_validation_names_the_element() -> None:
    with pytest.raises(MappingError) as caught:
        validate_fhir({"resourceType": "Patient", "gender": 5})
    assert caught.value.location == "Patient.gender"
    with pytest.raises(UnsupportedMessage):
        validate_fhir({"resourceType": "NoSuchThing"})


@pytest.mark.parametrize(
    ("resource", "secret"),
    [
        ({"resourceType": "Patient", "birthDate": "19741225-secret"}, "19741225-secret"),
        ({"resourceType": "Patient", "deceasedDateTime": "2020-01-01Tsecret"}, "secret"),
        ({"resourceType": "Encounter", "subject": {"reference": "MRN 12345 Chalmers"}}, "Chalmers"),
        (
            {
                "resourceType": "Claim",
                "type": {"coding": [{"code": "oral"}]},
                "total": {"value": "Peter Chalmers"},
            },
            "Chalmers",
        ),
    ],
)
def test_error_messages_do_not_quote_values(
    resource: dict[str, Any], secret: str, ctx: FhirMapContext
) -> None:
    """Errors end up in logs and parked-message reasons: no PHI in them."""
    with pytest.raises(MappingError) as caught:
        from_fhir(resource, ctx)
    assert secret not in str(caught.value)
