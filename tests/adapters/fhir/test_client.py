"""The outbound FHIR client against a real local aiohttp FHIR server."""

from __future__ import annotations

import time

import pytest

from adapters.fhir.client import FhirClient, outcome_text
from carehub.demo.partners import FhirSink
from hub.errors import PartnerRejected, PartnerUnavailable

PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:mrn", "value": "42"}],
    "name": [{"family": "Tester"}],
}


async def _token() -> str:
    return "tok"


async def test_conditional_update_creates_once_then_updates():
    async with FhirSink() as sink, FhirClient(sink.base_url, token=_token) as client:
        first = await client.conditional_update(
            "Patient", "urn:mrn", "42", PATIENT, idempotency_key="e1"
        )
        second = await client.conditional_update(
            "Patient", "urn:mrn", "42", PATIENT, idempotency_key="e2"
        )
    assert (first.status, second.status) == (201, 200)
    assert sink.count("Patient") == 1
    assert (
        sink.requests[0].query == "identifier=urn:mrn%7C42"
        or sink.requests[0].query == "identifier=urn:mrn|42"
    )
    assert second.location is not None and second.location.endswith("/_history/2")


async def test_503_with_retry_after_is_retried_and_succeeds():
    async with (
        FhirSink(fail_next=2, retry_after=0.05) as sink,
        FhirClient(sink.base_url, attempts=3) as client,
    ):
        started = time.monotonic()
        resp = await client.conditional_update("Patient", "urn:mrn", "42", PATIENT)
    assert resp.status == 201
    assert len(sink.requests) == 3
    assert time.monotonic() - started >= 0.1  # waited as the partner asked, twice


async def test_503_beyond_the_attempts_is_transient_with_retry_after():
    async with (
        FhirSink(fail_next=5, retry_after=0.01) as sink,
        FhirClient(sink.base_url, attempts=2) as client,
    ):
        with pytest.raises(PartnerUnavailable) as err:
            await client.conditional_update("Patient", "urn:mrn", "42", PATIENT)
    assert err.value.retry_after == pytest.approx(0.01)
    assert err.value.transient


async def test_422_is_permanent_with_the_partners_text():
    async with FhirSink(reject_values={"42"}) as sink, FhirClient(sink.base_url) as client:
        with pytest.raises(PartnerRejected, match="422: Patient refused by the partner's rules"):
            await client.conditional_update("Patient", "urn:mrn", "42", PATIENT)
    assert len(sink.requests) == 1  # a permanent answer is not retried


async def test_connection_refused_is_transient():
    async with FhirClient("http://127.0.0.1:9/fhir", attempts=1) as client:
        with pytest.raises(PartnerUnavailable):
            await client.conditional_update("Patient", "urn:mrn", "42", PATIENT)


def test_outcome_text_joins_issues_with_their_paths():
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "required",
                "diagnostics": "missing",
                "expression": ["Patient.name"],
            },
            {"severity": "error", "code": "value", "details": {"text": "bad date"}},
        ],
    }
    assert outcome_text(body) == "Patient.name: missing; bad date"
    assert outcome_text({"resourceType": "Patient"}) is None
