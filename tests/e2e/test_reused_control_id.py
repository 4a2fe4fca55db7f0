"""A reused control id over MLLP, through the whole hub (RabbitMQ, the sync engine, a FHIR
partner), on SQLite and PostgreSQL: a test feed's MSG00001 used for an A04 and then for an
A08 of another patient — both patients exist and are delivered, the second ACK is AA with
an ERR 205 warning; a port set to ``reused_control_id: reject`` answers AR 205 instead; a
resend with other line endings is answered with the original ACK and delivered once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink
from hub.canonical import EntityType
from hub.config import parse_config
from tests.hub.test_reused_control_id import A04, A08_OTHER
from tests.waiting import eventually

pytestmark = pytest.mark.rabbitmq


def config(sink_url: str, db_url: str, amqp_url: str, ns: str) -> str:
    return f"""
hub: {{namespace: {ns}, confirm_timeout: 5}}
systems:
  ehr:
    inbound: [{{type: mllp, name: adt, port: 0}}]
    identifiers: {{patient: GOODHEALTH}}
  clinic:
    inbound: [{{type: mllp, name: strict, port: 0, reused_control_id: reject}}]
    identifiers: {{patient: GOODHEALTH}}
  billing:
    outbound: {{type: fhir, url: "{sink_url}"}}
    subscribes: ["patient.*"]
"""


@pytest.fixture
async def hub(db_url: str, amqp_url: str, namespace: str) -> AsyncIterator[tuple[Hub, FhirSink]]:
    async with FhirSink() as sink:
        cfg = parse_config(config(sink.base_url, db_url, amqp_url, namespace))
        async with Hub(cfg.with_overrides(db_url=db_url, amqp_url=amqp_url)) as h:
            yield h, sink


async def send_all(hub: Hub, system: str, *frames: bytes) -> list[bytes]:
    assert hub.inbound is not None
    port = hub.inbound.find(system).server.port
    async with MllpClient("127.0.0.1", port, timeout=15) as client:
        return [await client.send(frame) for frame in frames]


async def family_names(hub: Hub) -> set[str]:
    assert hub.store is not None
    rows = await hub.store.list_entities(EntityType.PATIENT.value)
    return {name["family"] for row in rows for name in row.data.get("names") or []}


async def test_an_a08_of_another_patient_under_a_reused_msh10_is_processed(
    hub: tuple[Hub, FhirSink],
):
    h, sink = hub
    first, second = await send_all(h, "ehr", A04, A08_OTHER)
    assert parse(first)["MSA-1"] == "AA" and "ERR" not in first.decode()
    ack = parse(second)
    assert ack["MSA-1"] == "AA" and ack["MSA-2"] == "MSG00001"
    assert ack["ERR-3.1"] == "205" and ack["ERR-4"] == "W"
    # both patients exist, and both were delivered: nothing skipped as "already applied"
    await eventually(lambda: _both(h), 20)
    await eventually(lambda: sink.count("Patient") == 2, 20)
    assert h.store is not None
    rows = await h.store.list_messages(direction="in", oldest_first=True)
    assert [r.status for r in rows] == ["accepted", "accepted"]
    assert any(f["format_code"] == "205" for f in rows[1].findings)


async def _both(h: Hub) -> bool:
    return {"Okonkwo", "Adeyemi"} <= await family_names(h)


async def test_a_port_that_rejects_reused_control_ids_answers_ar(hub: tuple[Hub, FhirSink]):
    h, sink = hub
    first, second = await send_all(h, "clinic", A04, A08_OTHER)
    assert parse(first)["MSA-1"] == "AA"
    ack = parse(second)
    assert ack["MSA-1"] == "AR" and ack["ERR-3.1"] == "205" and ack["ERR-4"] == "E"
    await eventually(lambda: sink.count("Patient") == 1, 20)
    await asyncio.sleep(0.5)
    assert await family_names(h) == {"Okonkwo"}
    assert h.store is not None
    rows = await h.store.list_messages(direction="in", oldest_first=True)
    assert [r.status for r in rows] == ["accepted", "rejected"] and rows[1].raw == A08_OTHER


async def test_the_same_message_with_lf_line_ends_gets_the_original_ack(
    hub: tuple[Hub, FhirSink],
):
    h, sink = hub
    first, again = await send_all(h, "ehr", A04, A04.replace(b"\r", b"\n"))
    assert again == first  # the original answer, byte for byte
    await eventually(lambda: sink.count("Patient") == 1, 20)
    await asyncio.sleep(0.5)
    assert sink.applied["Patient"] == 1
    assert h.store is not None
    rows = await h.store.list_messages(direction="in", oldest_first=True)
    assert [r.status for r in rows] == ["accepted", "duplicate"]
