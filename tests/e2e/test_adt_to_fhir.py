"""One message end to end: ADT^A04 over MLLP → store → canonical → RabbitMQ → FHIR Patient
delivered by conditional update to a partner's FHIR server (a real aiohttp server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fhir.resources.R4B.patient import Patient as FhirPatient

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink
from hub.config import HubConfig, parse_config

A04 = (
    b"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128093000||ADT^A04^ADT_A01|MSG-A04-0001|P|2.5.1\r"
    b"EVN|A04|20261128093000\r"
    b"PID|1||4455667^^^GOODHEALTH&1.2.840.114350&ISO^MR||Okonkwo^Chidinma^A||19850214|F|||"
    b"12 Harbour Rd^^Portland^ME^04101^USA^H||^PRN^PH^^1^207^5550142\r"
    b"PV1|1|O|CLINIC^201^A^GOODHEALTH||||1234567893^Welby^Marcus^^^Dr^^^NPI^L^^^NPI|||||||||||"
    b"V0001\r"
)


def config(sink_url: str, db_url: str, amqp_url: str | None, ns: str) -> HubConfig:
    text = f"""
hub:
  namespace: {ns}
  confirm_timeout: 2
  retry_delays: [0.2, 0.5]
systems:
  ehr:
    inbound: [{{type: mllp, name: adt, port: 0}}]
    identifiers: {{patient: GOODHEALTH}}
  billing:
    outbound: {{type: fhir, url: "{sink_url}"}}
    subscribes: ["patient.*"]
"""
    return parse_config(text).with_overrides(db_url=db_url, amqp_url=amqp_url)


async def wait_for(predicate, seconds: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def sink() -> AsyncIterator[FhirSink]:
    async with FhirSink() as s:
        yield s


@pytest.mark.rabbitmq
async def test_adt_a04_reaches_the_billing_fhir_server_as_a_patient(
    sink: FhirSink, amqp_url: str, namespace: str, db_url: str
):
    cfg = config(sink.base_url, db_url, amqp_url, namespace)
    async with Hub(cfg) as hub:
        assert hub.inbound is not None and hub.store is not None
        port = hub.inbound.find("ehr").server.port
        client = MllpClient("127.0.0.1", port, timeout=10)
        ack = parse(await client.send(A04))
        await client.close()

        # AA, echoing MSH-10, only after the raw message is stored and events confirmed
        assert ack["MSA-1"] == "AA"
        assert ack["MSA-2"] == "MSG-A04-0001"
        stored = await hub.store.list_messages(direction="in")
        assert len(stored) == 1 and stored[0].raw == A04 and stored[0].status == "accepted"
        assert stored[0].message_key == "ADT^A04" and stored[0].ack is not None

        await wait_for(lambda: sink.count("Patient") == 1)
        request = next(r for r in sink.requests if r.path.endswith("/Patient"))
        # conditional update by the MRN, in the identifier system the hub renders for it
        assert request.method == "PUT"
        assert "4455667" in request.query and "identifier=" in request.query
        patient = FhirPatient.model_validate(request.resource)
        assert patient.name[0].family == "Okonkwo"
        assert patient.name[0].given == ["Chidinma", "A"]
        assert str(patient.birthDate) == "1985-02-14"
        assert patient.gender == "female"
        assert any(i.value == "4455667" for i in patient.identifier)

        # the delivery is recorded
        async def delivered() -> list:
            return await hub.store.list_deliveries(destination="billing", status="delivered")

        for _ in range(100):
            if await delivered():
                break
            await asyncio.sleep(0.05)
        rows = await delivered()
        assert len(rows) == 1 and rows[0].event_kind == "patient.registered"
        assert rows[0].message_id == stored[0].id


@pytest.mark.rabbitmq
async def test_a_resent_message_gets_the_original_ack_and_is_not_delivered_twice(
    sink: FhirSink, amqp_url: str, namespace: str, tmp_path: Path
):
    cfg = config(sink.base_url, f"sqlite:///{tmp_path / 'hub.db'}", amqp_url, namespace)
    async with Hub(cfg) as hub:
        assert hub.inbound is not None and hub.store is not None
        port = hub.inbound.find("ehr").server.port
        client = MllpClient("127.0.0.1", port, timeout=10)
        first = await client.send(A04)
        second = await client.send(A04)
        await client.close()
        assert first == second  # the original ACK, byte for byte
        await wait_for(lambda: sink.count("Patient") == 1)
        await asyncio.sleep(0.5)
        assert sink.applied["Patient"] == 1
        msgs = await hub.store.list_messages(direction="in", oldest_first=True)
        assert [m.status for m in msgs] == ["accepted", "duplicate"]
        assert msgs[1].duplicate_of == msgs[0].id


async def test_no_aa_while_the_broker_is_unreachable_and_the_message_is_kept(
    sink: FhirSink, tmp_path: Path, namespace: str
):
    # a port nothing listens on: the broker is "down" for the whole test
    cfg = config(
        sink.base_url,
        f"sqlite:///{tmp_path / 'hub.db'}",
        "amqp://guest:guest@127.0.0.1:1/%2F",
        namespace,
    )
    async with Hub(cfg) as hub:
        assert hub.inbound is not None and hub.store is not None
        port = hub.inbound.find("ehr").server.port
        client = MllpClient("127.0.0.1", port, timeout=15)
        ack = parse(await client.send(A04))
        await client.close()
        assert ack["MSA-1"] == "AR"  # never AA: nothing could be confirmed
        assert ack["MSA-2"] == "MSG-A04-0001"
        assert ack["ERR-3.1"] == "207"
        stored = await hub.store.list_messages(direction="in")
        assert len(stored) == 1 and stored[0].raw == A04
        assert stored[0].status == "unavailable"
    assert sink.requests == []
