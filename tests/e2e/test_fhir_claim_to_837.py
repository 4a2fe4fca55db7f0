"""A Claim POSTed to /fhir reaches an X12 837 partner with its billing provider's NPI,
whichever way the Claim names the provider (issue 12, item 5): an identifier, a reference to
an Organization the hub holds, a contained Organization, a conditional reference, a
PractitionerRole (the hub gives a role its practitioner's id). The patient, payer and
subscriber (through the Coverage) are resolved through the store the same way, so the whole
837 passes our X12 check. A provider the hub cannot resolve fails the delivery permanently
with the reason, naming Claim.provider — never a silent park."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.x12 import parse
from carehub.app.hub import Hub
from conformance.x12 import check_interchange
from hub.config import parse_config
from tests.waiting import eventually

CONFIG = """
hub:
  namespace: claim837
  retry_delays: [0.1]
  delivery_limit: 2
  http: {{port: 0}}
systems:
  ehr:
    inbound: [{{type: fhir, client: ehr}}]
  payer:
    outbound:
      type: x12-outbox
      path: "{outbox}"
      sender_id: CAREHUB
      receiver_id: PAYER01
      submitter_contact: Billing Office
      submitter_phone: "8005551212"
      receiver_name: ACME HEALTH PLAN
      claim_filing_indicator: CI
    subscribes: ["claim.submitted"]
clients:
  ehr: {{token_env: T_CLAIM837, scopes: ["system/*.cruds"]}}
"""
HEADERS = {"Authorization": "Bearer claim837-token", "Content-Type": "application/fhir+json"}

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
NPI = "1234567893"
ROLE_NPI = "1245319599"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
EIN_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"
ADDRESS = {"line": ["12 Main St"], "city": "Albany", "state": "NY", "postalCode": "122071234"}

CLINIC = {
    "resourceType": "Organization",
    "identifier": [
        {"system": NPI_SYSTEM, "value": NPI},
        {"system": EIN_SYSTEM, "value": "741234567"},
    ],
    "name": "Riverside Clinic",
    "telecom": [{"system": "phone", "value": "5185550100"}],
    "address": [ADDRESS],
}
PAYER = {
    "resourceType": "Organization",
    "identifier": [
        {
            "type": {"coding": [{"system": V2_0203, "code": "NIIP"}]},
            "system": "urn:example:payer-ids",
            "value": "ACME01",
        }
    ],
    "name": "Acme Health Plan",
    "address": [
        {"line": ["1 Payer Way"], "city": "Hartford", "state": "CT", "postalCode": "061011234"}
    ],
}
DOCTOR = {
    "resourceType": "Practitioner",
    "identifier": [
        {"system": NPI_SYSTEM, "value": ROLE_NPI},
        {"system": EIN_SYSTEM, "value": "741234568"},
    ],
    "name": [{"family": "Okafor", "given": ["Adaeze"]}],
    "address": [ADDRESS],
}
PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:example:ehr-mrn", "value": "MRN-837-1"}],
    "name": [{"family": "Lindqvist", "given": ["Maja"]}],
    "gender": "female",
    "birthDate": "1984-03-12",
    "address": [{"line": ["4 Elm Rd"], "city": "Albany", "state": "NY", "postalCode": "12207"}],
}


def coverage(patient: str, payer: str) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "status": "active",
        "subscriberId": "MEM55501",
        "beneficiary": {"reference": f"Patient/{patient}"},
        "subscriber": {"reference": f"Patient/{patient}"},
        "relationship": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                    "code": "self",
                }
            ]
        },
        "payor": [{"reference": f"Organization/{payer}"}],
    }


def claim(pcn: str, provider: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Claim",
        "identifier": [{"system": "urn:example:ehr-claims", "value": pcn}],
        "status": "active",
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "professional"}]},
        "subType": {"coding": [{"system": "https://www.cms.gov/codes/billtype", "code": "111"}]},
        "use": "claim",
        "patient": {"reference": f"Patient/{ids['patient']}"},
        "created": "2024-06-03T10:00:00Z",
        "insurer": {"reference": f"Organization/{ids['payer']}"},
        "provider": provider,
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [
            {"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/{ids['coverage']}"}}
        ],
        "diagnosis": [
            {
                "sequence": 1,
                "diagnosisCodeableConcept": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J06.9"}]
                },
            }
        ],
        "item": [
            {
                "sequence": 1,
                "diagnosisSequence": [1],
                "productOrService": {
                    "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]
                },
                "servicedDate": "2024-06-01",
                "quantity": {"value": 1},
                "net": {"value": 125.0, "currency": "USD"},
            }
        ],
        "total": {"value": 125.0, "currency": "USD"},
    }


@dataclass
class Site:
    hub: Hub
    http: aiohttp.ClientSession
    outbox: Path
    ids: dict[str, str]

    def url(self, path: str) -> str:
        assert self.hub.http is not None
        return f"http://127.0.0.1:{self.hub.http.port}/fhir/{path}"

    async def post(self, resource: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(self.url(resource["resourceType"]), json=resource) as resp:
            return resp.status, await resp.json()

    async def created(self, resource: dict[str, Any]) -> str:
        status, body = await self.post(resource)
        assert status == 201, body
        return str(body["id"])

    def interchange(self, pcn: str) -> bytes | None:
        """The 837 in the outbox whose CLM01 is ``pcn``."""
        for path in self.outbox.glob("claim.submitted-*.x12"):
            data = path.read_bytes()
            if f"CLM*{pcn}*".encode() in data:
                return data
        return None

    async def sent(self, pcn: str) -> bytes:
        """The 837 for ``pcn`` once written; a delivery that failed fails the test with its
        reason."""

        async def done() -> bool:
            failed = [d for d in await self.deliveries() if d.status in ("parked", "retrying")]
            assert not failed, [d.detail for d in failed]
            return self.interchange(pcn) is not None

        await eventually(done)
        data = self.interchange(pcn)
        assert data is not None
        return data

    async def deliveries(self) -> list[Any]:
        assert self.hub.store is not None
        return list(await self.hub.store.list_deliveries(destination="payer"))


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    monkeypatch.setenv("T_CLAIM837", "claim837-token")
    outbox = tmp_path / "out"
    cfg = parse_config(CONFIG.format(outbox=outbox)).with_overrides(
        db_url=f"sqlite:///{tmp_path / 'h.db'}"
    )
    async with Hub(cfg) as hub, aiohttp.ClientSession(headers=HEADERS) as http:
        s = Site(hub, http, outbox, {})
        s.ids["clinic"] = await s.created(CLINIC)
        s.ids["payer"] = await s.created(PAYER)
        s.ids["doctor"] = await s.created(DOCTOR)
        s.ids["patient"] = await s.created(PATIENT)
        s.ids["coverage"] = await s.created(coverage(s.ids["patient"], s.ids["payer"]))
        yield s


def _segments(data: bytes) -> list[list[str]]:
    text = data.decode()
    element, terminator = text[3], text[105]
    return [seg.strip().split(element) for seg in text.split(terminator) if seg.strip()]


def _checked_837(data: bytes, npi: str) -> list[list[str]]:
    """The 837's findings by our X12 check (none may be an error) and its NM1*85."""
    report = check_interchange(parse(data).interchanges[0])
    assert report.ok, [(f.text, f.location) for f in report.errors]
    segments = _segments(data)
    billing = [s for s in segments if s[0] == "NM1" and s[1] == "85"]
    assert len(billing) == 1
    assert billing[0][8:10] == ["XX", npi]
    assert any(s[:2] == ["REF", "EI"] for s in segments)  # the tax id came with the record
    subscriber = next(s for s in segments if s[0] == "NM1" and s[1] == "IL")
    assert subscriber[3] == "Lindqvist" and subscriber[8:10] == ["MI", "MEM55501"]
    payer = next(s for s in segments if s[0] == "NM1" and s[1] == "PR")
    assert payer[8:10] == ["PI", "ACME01"]
    return segments


def _contained() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    org = copy.deepcopy(CLINIC) | {"id": "billing"}
    return {"reference": "#billing"}, [org]


FORMS = {
    "identifier": lambda ids: {"identifier": {"system": NPI_SYSTEM, "value": NPI}},
    "reference": lambda ids: {"reference": f"Organization/{ids['clinic']}"},
    "conditional": lambda ids: {"reference": f"Organization?identifier={NPI_SYSTEM}|{NPI}"},
}


@pytest.mark.parametrize("form", sorted(FORMS))
async def test_the_billing_provider_reaches_the_837_with_its_npi(site: Site, form: str) -> None:
    pcn = f"PCN-{form.upper()[:6]}"
    status, body = await site.post(claim(pcn, FORMS[form](site.ids), site.ids))
    assert status == 201, body
    data = await site.sent(pcn)
    _checked_837(data, NPI)


async def test_a_contained_billing_provider_reaches_the_837(site: Site) -> None:
    reference, contained = _contained()
    resource = claim("PCN-CONTAIN", reference, site.ids) | {"contained": contained}
    status, body = await site.post(resource)
    assert status == 201, body
    data = await site.sent("PCN-CONTAIN")
    _checked_837(data, NPI)


async def test_a_practitioner_role_bills_with_its_practitioners_npi(site: Site) -> None:
    provider = {"reference": f"PractitionerRole/{site.ids['doctor']}"}
    status, body = await site.post(claim("PCN-ROLE", provider, site.ids))
    assert status == 201, body
    data = await site.sent("PCN-ROLE")
    segments = _checked_837(data, ROLE_NPI)
    billing = next(s for s in segments if s[0] == "NM1" and s[1] == "85")
    assert billing[2:4] == ["1", "Okafor"]  # a person bills: NM102 = 1, the practitioner's name


async def test_a_provider_the_hub_cannot_resolve_fails_with_the_reason(site: Site) -> None:
    status, body = await site.post(
        claim("PCN-NOBODY", {"reference": "Organization/not-known-here"}, site.ids)
    )
    assert status == 201, body  # a valid FHIR Claim: the 837 partner is what cannot take it

    async def failed() -> list[Any]:
        return [d for d in await site.deliveries() if d.status == "parked"]

    await eventually(failed)
    (delivery,) = await failed()
    assert "Claim.provider" in (delivery.detail or "")
    assert "Organization/not-known-here" in (delivery.detail or "")
    assert delivery.attempts <= 1  # permanent: not retried
    assert site.interchange("PCN-NOBODY") is None


async def test_a_conditional_provider_matching_nothing_is_refused_at_post(site: Site) -> None:
    provider = {"reference": f"Organization?identifier={NPI_SYSTEM}|1999999984"}
    status, body = await site.post(claim("PCN-NOMATCH", provider, site.ids))
    assert status == 422, body
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert issue["expression"] == ["Claim.provider"]
    assert "matches no Organization" in issue["diagnostics"]
    assert [d for d in await site.deliveries() if d.event_kind == "claim.submitted"] == []


async def test_a_provider_without_an_npi_fails_with_the_reason(site: Site) -> None:
    no_npi = {k: v for k, v in CLINIC.items() if k != "identifier"} | {
        "identifier": [{"system": EIN_SYSTEM, "value": "741234569"}],
        "name": "Clinic Without NPI",
    }
    org = await site.created(no_npi)
    status, body = await site.post(
        claim("PCN-NONPI", {"reference": f"Organization/{org}"}, site.ids)
    )
    assert status == 201, body

    async def failed() -> list[Any]:
        return [d for d in await site.deliveries() if d.status == "parked"]

    await eventually(failed)
    (delivery,) = await failed()
    assert f"Claim.provider — Organization/{org} has no NPI identifier" in (delivery.detail or "")
    assert "741234569" not in (delivery.detail or "")  # the record's values stay out
    assert site.interchange("PCN-NONPI") is None
