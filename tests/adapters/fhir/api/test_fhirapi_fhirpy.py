"""A FHIR client nobody here wrote (fhirpy's AsyncFHIRClient) creates, reads, updates,
searches, pages and deletes against the API over real HTTP."""

from __future__ import annotations

import pytest
from fhirapi_support import Api, auth
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound


def client(api: Api) -> AsyncFHIRClient:
    base = str(api.http.make_url("/fhir"))
    return AsyncFHIRClient(base, authorization=auth()["Authorization"])


async def test_fhirpy_create_read_search_update_delete(api: Api) -> None:
    fhir = client(api)
    patient = fhir.resource(
        "Patient",
        identifier=[{"system": "urn:fhirpy", "value": "P-1"}],
        name=[{"family": "Tester", "given": ["Ada"]}],
        birthDate="1980-01-02",
        gender="female",
    )
    await patient.save()
    assert patient.id and patient["meta"]["versionId"] == "1"

    read = await fhir.reference("Patient", patient.id).to_resource()
    assert read["name"][0]["family"] == "Tester" and read["birthDate"] == "1980-01-02"

    found = await fhir.resources("Patient").search(identifier="urn:fhirpy|P-1").fetch_all()
    assert [p.id for p in found] == [patient.id]
    assert await fhir.resources("Patient").search(identifier="urn:fhirpy|P-2").count() == 0

    read["birthDate"] = "1980-01-03"
    await read.save()
    again = await fhir.reference("Patient", patient.id).to_resource()
    assert again["birthDate"] == "1980-01-03" and again["meta"]["versionId"] == "2"

    await again.delete()
    with pytest.raises(ResourceNotFound) as gone:  # fhirpy's name for 404 and 410
        await fhir.reference("Patient", patient.id).to_resource()
    assert '"code":"deleted"' in str(gone.value)


async def test_fhirpy_follows_the_paging_links(api: Api) -> None:
    fhir = client(api)
    for i in range(7):
        await fhir.resource("Patient", identifier=[{"system": "urn:page", "value": str(i)}]).save()
    everyone = await fhir.resources("Patient").limit(3).fetch_all()
    assert len(everyone) == 7
    assert len({p.id for p in everyone}) == 7


async def test_fhirpy_sees_errors_as_operation_outcomes(api: Api) -> None:
    fhir = client(api)
    with pytest.raises(ResourceNotFound):
        await fhir.reference("Patient", "missing").to_resource()
    with pytest.raises(OperationOutcome) as bad:
        await fhir.resource("Patient", birthDate="not-a-date").save()
    assert "Patient.birthDate" in str(bad.value)
