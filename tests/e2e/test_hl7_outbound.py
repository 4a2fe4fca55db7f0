"""HL7 v2 out: events rendered as ADT 2.5.1 and delivered over MLLP to a partner, the ACK
matched; a partner's AE parks the delivery with the partner's text."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import MllpSink
from conformance.hl7v2 import validate_strict
from hub.config import parse_config
from tests.e2e.test_adt_to_fhir import A04, wait_for


def _config(sink_port: int, tmp_path: Path) -> str:
    return f"""
hub:
  namespace: hl7out
  retry_delays: [0.1, 0.2]
systems:
  ehr:
    inbound: [{{type: mllp, port: 0}}]
    identifiers: {{patient: GOODHEALTH}}
  lab:
    outbound: {{type: mllp, host: 127.0.0.1, port: {sink_port}, timeout: 5,
               receiving_application: LIS, receiving_facility: LAB}}
    subscribes: ["patient.*", "encounter.*"]
"""


async def _send(hub: Hub, message: bytes) -> str | None:
    assert hub.inbound is not None
    client = MllpClient("127.0.0.1", hub.inbound.find("ehr").server.port, timeout=10)
    try:
        return parse(await client.send(message))["MSA-1"]
    finally:
        await client.close()


async def test_a04_is_delivered_as_strictly_valid_adt_a04_over_mllp(tmp_path: Path):
    async with MllpSink() as sink:
        cfg = parse_config(_config(sink.port, tmp_path)).with_overrides(
            db_url=f"sqlite:///{tmp_path / 'h.db'}"
        )
        async with Hub(cfg) as hub:
            assert await _send(hub, A04) == "AA"
            await wait_for(lambda: len(sink.applied) >= 1)
            await asyncio.sleep(0.3)
            assert hub.store is not None
            rows = await hub.store.list_deliveries(destination="lab")
    adts = [parse(m) for m in sink.received]
    a04 = next(m for m in adts if m.message_type and m.message_type.startswith("ADT^A04"))
    assert a04["MSH-5"] == "LIS" and a04["MSH-6"] == "LAB"
    assert a04["MSH-12"] == "2.5.1"
    assert a04["PID-3.1"] == "4455667" and a04["PID-5.1"] == "Okonkwo"
    raw = next(m for m in sink.received if parse(m).control_id == a04.control_id)
    assert validate_strict(raw).ok, validate_strict(raw).as_list()
    statuses = {r.event_kind: r.status for r in rows}
    # the encounter has no HL7 v2 rendering of its own here: recorded as skipped, not parked
    assert statuses["patient.registered"] == "delivered"
    assert statuses.get("encounter.started") in ("skipped", None)


async def test_a_partner_ae_parks_the_delivery_with_the_partners_text(tmp_path: Path):
    async with MllpSink(reject_values={"4455667"}) as sink:
        cfg = parse_config(_config(sink.port, tmp_path)).with_overrides(
            db_url=f"sqlite:///{tmp_path / 'h.db'}"
        )
        async with Hub(cfg) as hub:
            assert await _send(hub, A04) == "AA"  # the hub took it; the partner refuses it
            assert hub.store is not None

            async def parked() -> list:
                return await hub.store.list_deliveries(destination="lab", status="parked")

            for _ in range(100):
                if await parked():
                    break
                await asyncio.sleep(0.05)
            rows = await parked()
            depths = await hub.transport.queue_depths()
    assert len(rows) == 1 and rows[0].event_kind == "patient.registered"
    assert "refused by the partner's rules" in (rows[0].detail or "")
    assert sink.applied == []
    assert depths["hl7out.dest.lab.parked"] == 1
