"""A 277 claim status names its patient, and that reference is resolved by the usual
identity rules (issue 12, item 5): on real RabbitMQ, against SQLite and PostgreSQL, a 277
for a patient the EHR registered and an 837 linked to the payer's member id points at that
patient (by the member id) — no second patient — and the stored status renders as a valid
FHIR ClaimResponse."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from fhir.resources.R4B.claimresponse import ClaimResponse as R4BClaimResponse

from hub.canonical import ClaimStatus
from mappings.fhir import FhirMapContext, to_fhir
from tests.sync.test_sync import (  # site: the hub fixture
    CLAIM_837,
    STEVE_A04,
    Site,
    site,  # noqa: F401
)

pytestmark = pytest.mark.rabbitmq

#: a 277 for the 837's claim CLMNO12345: same payer (PLANID12345), same member MBRID01234
STATUS_277 = (
    b"ISA*00*          *00*          *ZZ*PAYER          *ZZ*CLINIC         *240316*0930*^*"
    b"00501*000000201*0*T*:~"
    b"GS*HN*PAYER*CLINIC*20240316*0930*201*X*005010X212~"
    b"ST*277*0001*005010X212~"
    b"BHT*0010*08*277X212*20240316*0930*DG~"
    b"HL*1**20*1~"
    b"NM1*PR*2*R&R Health Plan*****PI*PLANID12345~"
    b"HL*2*1*21*1~"
    b"NM1*41*2*Quality Billing Service Corporation*****46*587654321~"
    b"HL*3*2*19*1~"
    b"NM1*1P*2*Professional Home IV, LLC*****XX*1234567893~"
    b"HL*4*3*22*0~"
    b"NM1*IL*1*Smith*Steve*A***MI*MBRID01234~"
    b"TRN*2*TRACE0001~"
    b"STC*A1:20*20240316**2232.93~"
    b"REF*EJ*CLMNO12345~"
    b"SE*14*0001~"
    b"GE*1*201~"
    b"IEA*1*000000201~"
)


async def _post(hub: Site, http: aiohttp.ClientSession, data: bytes) -> None:
    async with http.post(
        hub.url("/x12/clearinghouse"), data=data, headers={"Authorization": "Bearer ch-token"}
    ) as resp:
        assert resp.status == 200
        assert b"IK5*A" in await resp.read()


async def test_a_277_points_at_the_patient_the_837_brought(
    site: Site,  # noqa: F811  (the fixture imported above)
    corpus: Any,
) -> None:
    assert await site.send("ehr", STEVE_A04) == "AA"
    await site.settle()
    async with aiohttp.ClientSession() as http:
        await _post(site, http, (corpus / "x12" / CLAIM_837).read_bytes())
        await site.settle()
        (patient,) = await site.patients()
        await _post(site, http, STATUS_277)
    await site.settle()
    assert [p["id"] for p in await site.patients()] == [patient["id"]]  # no second patient
    (row,) = await site.store.list_entities("ClaimStatus")
    status = ClaimStatus.model_validate(row.data)
    assert status.patient is not None and status.patient.ref is not None
    assert status.patient.ref.id == patient["id"]
    assert status.patient.name is not None and status.patient.name.family == "Smith"
    resource = to_fhir(status, FhirMapContext(source="billing"))
    R4BClaimResponse.model_validate(resource)
    assert resource["patient"]["display"] == "Smith, Steve A"
