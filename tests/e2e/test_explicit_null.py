"""HL7 v2's explicit null ``""`` end to end: an A08 whose PID-13 is ``""`` clears the stored
home phone, and the destinations receive the cleared value (a FHIR Patient without
``telecom``, an HL7 A08 whose PID-13 is ``""``); an A08 whose PID-7 is empty leaves the
birth date, and one whose PID-7 is ``""`` leaves it too (identity facts are never cleared by
a feed: a warning in the ACK, the birth date kept)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink, MllpSink
from conformance.hl7v2 import validate_strict
from hub.config import parse_config
from tests.e2e.test_adt_to_fhir import A04, wait_for


def _a08(control_id: bytes, pid7: bytes, address: bytes, pid13: bytes | None = None) -> bytes:
    message = (
        A04.replace(b"ADT^A04^ADT_A01", b"ADT^A08^ADT_A01")
        .replace(b"EVN|A04", b"EVN|A08")
        .replace(b"MSG-A04-0001", control_id)
        .replace(b"|19850214|", b"|" + pid7 + b"|")
        .replace(b"12 Harbour Rd", address)
    )
    if pid13 is not None:
        message = message.replace(b"^PRN^PH^^1^207^5550142", pid13)
    return message


def _config(fhir_url: str, mllp_port: int, db: Path) -> Any:
    text = f"""
hub:
  namespace: explicitnull
  retry_delays: [0.1, 0.2]
systems:
  ehr:
    inbound: [{{type: mllp, port: 0}}]
    identifiers: {{patient: GOODHEALTH}}
  billing:
    outbound: {{type: fhir, url: "{fhir_url}"}}
    subscribes: ["patient.*"]
  lab:
    outbound: {{type: mllp, host: 127.0.0.1, port: {mllp_port}, timeout: 5,
               receiving_application: LIS, receiving_facility: LAB}}
    subscribes: ["patient.*"]
"""
    return parse_config(text).with_overrides(db_url=f"sqlite:///{db}")


async def _send(hub: Hub, message: bytes) -> str | None:
    return (await _ack(hub, message))["MSA-1"]


async def _ack(hub: Hub, message: bytes) -> Any:
    assert hub.inbound is not None
    client = MllpClient("127.0.0.1", hub.inbound.find("ehr").server.port, timeout=10)
    try:
        return parse(await client.send(message))
    finally:
        await client.close()


async def _patient(hub: Hub) -> dict[str, Any]:
    assert hub.store is not None
    rows = await hub.store.list_entities("Patient")
    assert len(rows) == 1
    return rows[0].data


def _last_fhir_patient(sink: FhirSink) -> dict[str, Any]:
    puts = [r for r in sink.requests if r.path.endswith("/Patient") and r.resource]
    assert puts
    body = puts[-1].resource
    assert isinstance(body, dict)
    return body


async def test_pid13_explicit_null_clears_the_phone_and_reaches_both_destinations(
    tmp_path: Path,
):
    async with FhirSink() as fhir, MllpSink() as lab:
        cfg = _config(fhir.base_url, lab.port, tmp_path / "h.db")
        async with Hub(cfg) as hub:
            assert await _send(hub, A04) == "AA"
            await wait_for(lambda: len(lab.applied) >= 1 and fhir.count("Patient") == 1)
            assert (await _patient(hub))["birth_date"] == "1985-02-14"

            # PID-7 empty: "no change" — the birth date stays, the new address is taken
            assert await _send(hub, _a08(b"MSG-A08-0001", b"", b"7 Quay St")) == "AA"
            await wait_for(lambda: len(lab.applied) >= 2)
            kept = await _patient(hub)
            assert kept["birth_date"] == "1985-02-14"
            assert kept["addresses"][0]["lines"] == ["7 Quay St"]
            assert kept["telecom"][0]["value"]

            # PID-7 "" and PID-13 "": the birth date is an identity fact, kept with a
            # warning naming PID-7; the home phone is deleted
            ack = await _ack(hub, _a08(b"MSG-A08-0002", b'""', b"7 Quay St", b'""'))
            assert ack["MSA-1"] == "AA"
            assert "explicit null in PID-7 ignored" in ack.segment("ERR", 1).field(8)
            await wait_for(lambda: len(lab.applied) >= 3)
            await wait_for(lambda: "telecom" not in _last_fhir_patient(fhir))
            cleared = await _patient(hub)
            assert cleared["birth_date"] == "1985-02-14"
            assert not cleared.get("telecom")
            assert cleared["meta"]["cleared"] == ["telecom:home"]
            assert cleared["addresses"][0]["lines"] == ["7 Quay St"]
            await asyncio.sleep(0.2)

    fhir_patient = _last_fhir_patient(fhir)
    assert fhir_patient["name"][0]["family"] == "Okonkwo"
    assert fhir_patient["birthDate"] == "1985-02-14"
    a08s = [parse(m) for m in lab.received]
    assert [m.trigger_event for m in a08s] == ["A04", "A08", "A08"]
    assert a08s[1]["PID-7"] == "19850214" and a08s[2]["PID-7"] == "19850214"
    # an empty PID-13 would mean "no change" to the lab: the delete is said with ""
    assert a08s[2].msh is not None and a08s[2].segment("PID", 1).field(13) == '""'
    assert a08s[2].segment("PID", 1).field(14) == ""  # PID-14 (work) was not cleared
    report = validate_strict(lab.received[2])
    assert report.ok, report.as_list()
