"""A FHIR DELETE goes through the pipeline and the sync engine like any other write: the
record becomes a tombstone (read answers 410), the decision is in ``sync_log``, a FHIR
destination receives a conditional DELETE by identifier, an HL7 v2 destination skips it with
the reason, and a delete of a record already removed publishes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink, MllpSink
from hub.config import parse_config
from tests.waiting import eventually

CONFIG = """
hub:
  namespace: fhirdel
  retry_delays: [0.1]
  http: {{port: 0}}
systems:
  portal:
    inbound: [{{type: fhir, client: portal}}]
  billing:
    outbound: {{type: fhir, url: "{fhir}"}}
    subscribes: ["patient.*"]
  lab:
    outbound: {{type: mllp, host: 127.0.0.1, port: {lab}, timeout: 5}}
    subscribes: ["patient.*"]
clients:
  portal: {{token_env: T_PORTAL, scopes: ["system/*.cruds"]}}
"""

PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:example:portal", "value": "P-DEL-1"}],
    "name": [{"family": "Ngata", "given": ["Aroha"]}],
    "birthDate": "1979-08-30",
}
HEADERS = {"Authorization": "Bearer portal-token", "Content-Type": "application/fhir+json"}


@dataclass
class Site:
    hub: Hub
    fhir: FhirSink
    lab: MllpSink
    http: aiohttp.ClientSession

    @property
    def store(self) -> Any:
        assert self.hub.store is not None
        return self.hub.store

    def url(self, path: str) -> str:
        assert self.hub.http is not None
        return f"http://127.0.0.1:{self.hub.http.port}/fhir/{path}"

    async def deliveries(self, destination: str) -> list[Any]:
        return list(await self.store.list_deliveries(destination=destination))


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    monkeypatch.setenv("T_PORTAL", "portal-token")
    async with FhirSink() as fhir, MllpSink() as lab:
        text = CONFIG.format(fhir=fhir.base_url, lab=lab.port)
        cfg = parse_config(text).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
        async with Hub(cfg) as hub, aiohttp.ClientSession(headers=HEADERS) as http:
            yield Site(hub, fhir, lab, http)


async def created(site: Site) -> str:
    """A patient created over the API and delivered to both destinations: its id."""
    async with site.http.post(site.url("Patient"), json=PATIENT) as resp:
        assert resp.status == 201, await resp.text()
        patient_id = str((await resp.json())["id"])
    await eventually(lambda: site.fhir.count("Patient") == 1)
    await eventually(lambda: len(site.lab.applied) == 1)
    return patient_id


async def test_a_fhir_delete_reaches_a_fhir_destination_as_a_conditional_delete(site: Site):
    patient_id = await created(site)
    async with site.http.delete(site.url(f"Patient/{patient_id}")) as resp:
        assert resp.status == 204, await resp.text()
    # answered after the sync engine applied it: the tombstone is there, the read says 410
    async with site.http.get(site.url(f"Patient/{patient_id}")) as resp:
        assert resp.status == 410
    decisions = await site.store.sync_history("Patient", patient_id)
    assert [d["outcome"] for d in decisions][-1] == "removed"
    assert decisions[-1]["event"] == "patient.removed"

    await eventually(lambda: site.fhir.deleted["Patient"] == 1)
    request = next(r for r in site.fhir.requests if r.method == "DELETE")
    assert request.path == "/fhir/Patient"
    assert request.query == "identifier=urn:example:portal|P-DEL-1"
    assert request.idempotency_key  # a retry is recognised as the same delete
    assert site.fhir.count("Patient") == 0


async def test_an_hl7v2_destination_skips_a_removal_with_the_reason(site: Site):
    patient_id = await created(site)
    async with site.http.delete(site.url(f"Patient/{patient_id}")) as resp:
        assert resp.status == 204

    async def skipped() -> list[Any]:
        return [d for d in await site.deliveries("lab") if d.event_kind == "patient.removed"]

    await eventually(skipped)
    (delivery,) = await skipped()
    assert delivery.status == "skipped"
    assert "no faithful HL7 v2 equivalent" in (delivery.detail or "")
    assert len(site.lab.received) == 1  # only the registration went out


async def test_a_delete_of_a_removed_record_publishes_nothing(site: Site):
    patient_id = await created(site)
    async with site.http.delete(site.url(f"Patient/{patient_id}")) as resp:
        assert resp.status == 204
    await eventually(lambda: site.fhir.deleted["Patient"] == 1)
    before = (len(site.fhir.requests), len(await site.deliveries("lab")))
    async with site.http.delete(site.url(f"Patient/{patient_id}")) as resp:
        assert resp.status == 204  # deleting what is gone is no error (http.html#delete)
    await asyncio.sleep(0.5)
    assert (len(site.fhir.requests), len(await site.deliveries("lab"))) == before
    outcomes = [d["outcome"] for d in await site.store.sync_history("Patient", patient_id)]
    assert outcomes.count("removed") == 1


async def test_the_fhir_api_and_the_sync_engine_share_one_identity_service(site: Site):
    assert site.hub.sync is not None and site.hub.http is not None
    assert site.hub.http.identity is site.hub.sync.identity
