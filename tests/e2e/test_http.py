"""The hub's HTTP server: HL7 v2 in over MLLP, read back through the FHIR API; X12 over
HTTP answered with its 999; /health; admin endpoints behind the admin scope, audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink
from hub.config import parse_config
from tests.e2e.test_adt_to_fhir import A04

CONFIG = """
hub:
  namespace: httpt
  retry_delays: [0.1]
  delivery_limit: 2
  http: {{port: 0}}
systems:
  ehr:
    inbound: [{{type: mllp, port: 0}}]
    identifiers: {{patient: GOODHEALTH}}
  clearinghouse:
    inbound: [{{type: x12-http, client: ch}}]
  billing:
    outbound: {{type: fhir, url: "{sink}"}}
    subscribes: ["patient.*"]
clients:
  reader: {{token_env: T_READER, scopes: ["system/Patient.rs"]}}
  ch: {{token_env: T_CH, scopes: [], system: clearinghouse}}
  ops: {{token_env: T_OPS, scopes: ["carehub/admin"]}}
"""


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    for var, value in {"T_READER": "r-token", "T_CH": "ch-token", "T_OPS": "ops-token"}.items():
        monkeypatch.setenv(var, value)
    async with FhirSink(reject_values={"4455667"}) as sink:
        cfg = parse_config(CONFIG.format(sink=sink.base_url)).with_overrides(
            db_url=f"sqlite:///{tmp_path / 'h.db'}"
        )
        async with Hub(cfg) as h:
            yield h


def base(hub: Hub) -> str:
    assert hub.http is not None
    return f"http://127.0.0.1:{hub.http.port}"


async def test_an_adt_sent_over_mllp_is_readable_as_a_fhir_patient(hub: Hub):
    assert hub.inbound is not None
    async with MllpClient("127.0.0.1", hub.inbound.find("ehr").server.port) as client:
        assert parse(await client.send(A04))["MSA-1"] == "AA"
    headers = {"Authorization": "Bearer r-token", "Accept": "application/fhir+json"}
    async with aiohttp.ClientSession(headers=headers) as http:
        found: dict = {}

        async def search() -> None:
            async with http.get(
                f"{base(hub)}/fhir/Patient", params={"identifier": "4455667"}
            ) as resp:
                assert resp.status == 200
                found.update(await resp.json())

        for _ in range(50):
            await search()
            if found.get("total"):
                break
            await asyncio.sleep(0.1)
    patient = found["entry"][0]["resource"]
    assert patient["name"][0]["family"] == "Okonkwo"
    assert patient["birthDate"] == "1985-02-14"


async def test_x12_over_http_is_answered_with_its_999(hub: Hub, corpus: Path):
    data = (corpus / "x12" / "lfhx12__837_005010X222A2_demo.autoaccident.837").read_bytes()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base(hub)}/x12/clearinghouse", data=data) as resp:
            assert resp.status == 401
        async with http.post(
            f"{base(hub)}/x12/clearinghouse", data=data, headers={"Authorization": "Bearer r-token"}
        ) as resp:
            assert resp.status == 403
        async with http.post(
            f"{base(hub)}/x12/clearinghouse",
            data=b"<xml/>",
            headers={"Authorization": "Bearer ch-token"},
        ) as resp:
            assert resp.status == 415
        async with http.post(
            f"{base(hub)}/x12/clearinghouse",
            data=data,
            headers={"Authorization": "Bearer ch-token"},
        ) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/edi-x12"
            answer = await resp.read()
    assert b"ST*999*" in answer and b"AK9*A*" in answer


async def test_health_and_admin_endpoints(hub: Hub):
    assert hub.inbound is not None and hub.store is not None
    # the billing partner refuses this patient: the delivery ends up parked
    async with MllpClient("127.0.0.1", hub.inbound.find("ehr").server.port) as client:
        await client.send(A04)

    async def parked() -> bool:
        return bool(await hub.store.list_deliveries(status="parked"))

    for _ in range(100):
        if await parked():
            break
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base(hub)}/health") as resp:
            assert resp.status == 200 and await resp.json() == {"store": True, "broker": True}
        async with http.get(f"{base(hub)}/admin/status") as resp:
            assert resp.status == 401
        async with http.get(
            f"{base(hub)}/admin/status", headers={"Authorization": "Bearer r-token"}
        ) as resp:
            assert resp.status == 403
        ops = {"Authorization": "Bearer ops-token"}
        async with http.get(f"{base(hub)}/admin/parked/billing", headers=ops) as resp:
            items = await resp.json()
        assert len(items) == 1 and "refused" in items[0]["reason"]
        async with http.post(f"{base(hub)}/admin/parked/billing/replay", headers=ops) as resp:
            assert (await resp.json()) == {"replayed": 1}
    trail = await hub.store.audit_trail()
    actions = {(a.actor, a.action) for a in trail}
    assert ("ops", "replayed") in actions and ("reader", "denied") in actions
