"""X12 eligibility and claim-status transactions become the FHIR resources they mean
(issue 12, item 5): a 270 is a CoverageEligibilityRequest and a 271 a
CoverageEligibilityResponse (the event kind decides, not the entity), and a 277/277CA claim
status names its patient (2100E dependent, else 2100D subscriber) and is a ClaimResponse.
Every resource is checked against the fhir.resources R4B model here, apart from the hub's
own validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from carehub.app.files import convert_item, read_items
from hub.canonical import ClaimStatus, EligibilityCheck, EntityType, EventKind
from mappings.fhir import FhirMapContext, from_fhir, resource_for, to_fhir
from tests.corpus import corpus_dir

X12 = corpus_dir() / "x12"
REQUESTS = [
    "lfhx12__270_005010X279A1_dependent-health-benefit-check.270",
    "stupidedi__005010_X279A1_HS270_pass_generic-request-by-clinic-for-patient-"
    "(subscriber)-eligibility.edi",
]
RESPONSES = ["lfhx12__271_005010X279A1_dependent-health-benefit-check.271"]
STATUSES = [
    "lfhx12__277_005010X212_claim-level-status.277",
    "stupidedi__005010_X212_HN277_pass_claim-response.edi",
    "stupidedi__005010_X212_HN277_pass_provider-response.edi",
]


def _r4b(resource: dict[str, Any]) -> None:
    """The outside validator: the fhir.resources R4B model of the resource's type."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _convert(name: str) -> list[tuple[str, dict[str, Any]]]:
    """``carehub convert --to fhir`` of a corpus file: (event kind, resource) per output."""
    out: list[tuple[str, dict[str, Any]]] = []
    for item in read_items(X12 / name):
        verdict = convert_item(item, "fhir")
        assert verdict.ok, [(f.text, f.location) for f in verdict.report.errors]
        assert len(verdict.outputs) == len(verdict.events)  # nothing skipped or refused
        for event, (_, data) in zip(verdict.events, verdict.outputs, strict=True):
            out.append((event.kind.value, json.loads(data)))
    assert out
    return out


@pytest.mark.parametrize("name", REQUESTS)
def test_a_270_converts_to_a_coverage_eligibility_request(name: str) -> None:
    for kind, resource in _convert(name):
        assert kind == "eligibility.requested"
        assert resource["resourceType"] == "CoverageEligibilityRequest"
        assert resource["patient"] and resource["insurer"] and resource["created"]
        _r4b(resource)


@pytest.mark.parametrize("name", RESPONSES)
def test_a_271_converts_to_a_coverage_eligibility_response(name: str) -> None:
    for kind, resource in _convert(name):
        assert kind == "eligibility.reported"
        assert resource["resourceType"] == "CoverageEligibilityResponse"
        _r4b(resource)


def test_the_event_kind_not_the_entity_picks_the_eligibility_resource() -> None:
    ctx = FhirMapContext(source="carehub")
    ((_, request),) = _convert(REQUESTS[0])
    check = from_fhir(request, ctx)
    assert isinstance(check, EligibilityCheck)
    asked = to_fhir(check, ctx, event=EventKind.ELIGIBILITY_REQUESTED)
    assert asked["resourceType"] == "CoverageEligibilityRequest"
    assert resource_for(EntityType.ELIGIBILITY_CHECK, EventKind.ELIGIBILITY_REPORTED) == (
        "CoverageEligibilityResponse"
    )
    # an explicit resource type still wins over the event
    named = to_fhir(check, ctx, "CoverageEligibilityRequest", event=EventKind.ELIGIBILITY_REPORTED)
    assert named["resourceType"] == "CoverageEligibilityRequest"


def _patients(name: str) -> list[dict[str, Any]]:
    found = []
    for kind, resource in _convert(name):
        assert kind == "claim.status_reported"
        assert resource["resourceType"] == "ClaimResponse"
        _r4b(resource)
        found.append(resource)
    return found


@pytest.mark.parametrize("name", STATUSES)
def test_every_277_claim_status_is_a_valid_claim_response(name: str) -> None:
    for resource in _patients(name):
        assert resource["outcome"] in ("queued", "error")
        assert resource["patient"].get("display")
        assert resource["insurer"]["display"] == "ABC INSURANCE"


def test_a_277_names_the_subscriber_or_the_dependent_as_patient() -> None:
    smith, jones, joseph = _patients(STATUSES[0])
    assert smith["patient"]["display"] == "SMITH, FRED"
    assert smith["patient"]["identifier"]["value"] == "123456789A"  # 2100D member id
    assert jones["patient"]["display"] == "JONES, MARY"
    # 2200E under the dependent MANN, JOSEPH: the patient is not the subscriber MANN, JOHN
    assert joseph["patient"] == {"display": "MANN, JOSEPH"}
    assert smith["request"]["identifier"]["value"] == "SM123456"  # REF*EJ
    assert smith["disposition"]  # the category's name when STC12 is empty


def test_a_277_claim_status_keeps_its_patient_reference() -> None:
    (item,) = read_items(X12 / STATUSES[0])
    verdict = convert_item(item, "canonical")
    statuses = [e.entity for e in verdict.events]
    assert all(isinstance(s, ClaimStatus) for s in statuses)
    first = statuses[0]
    assert isinstance(first, ClaimStatus) and first.patient is not None
    ref = first.patient.ref
    assert ref is not None and ref.type is EntityType.PATIENT
    assert [i.value for i in ref.identifiers] == ["123456789A"]
    assert first.patient.name is not None and first.patient.name.family == "SMITH"


def test_a_rejected_status_is_an_error_outcome_and_reads_back(tmp_path: Path) -> None:
    ctx = FhirMapContext(source="carehub")
    (item,) = read_items(X12 / STATUSES[0])
    status = convert_item(item, "canonical").events[0].entity
    assert isinstance(status, ClaimStatus)
    rejected = status.model_copy(update={"accepted": False})
    resource = to_fhir(rejected, ctx)
    _r4b(resource)
    assert resource["outcome"] == "error"
    assert resource["error"][0]["code"]["coding"][0]["code"] == "317"  # STC01-2
    back = from_fhir(resource, ctx)
    assert isinstance(back, ClaimStatus)
    assert back.accepted is False
    assert back.payer_claim_control_number == status.payer_claim_control_number
    assert back.patient is not None and back.patient.ref is not None
    assert back.patient.ref.display == "SMITH, FRED"
