"""Immunizations end to end: a VXU^V04 over MLLP is AA'd and reaches a partner's FHIR server
as a Patient and US Core Immunizations (RabbitMQ, SQLite and PostgreSQL); an RXA-21 D
retracts the dose there (status entered-in-error); a FHIR client's POSTed Immunization
reaches an HL7 v2 destination as a strictly valid VXU^V04, and its DELETE as RXA-21 D."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from fhir.resources.R4B.immunization import Immunization as FhirImmunization

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink, MllpSink
from conformance.hl7v2 import validate_strict
from hub.config import HubConfig, parse_config
from tests.corpus import corpus_dir
from tests.waiting import eventually

VXU_FILE = corpus_dir() / "hl7v2" / "fhirconverter__VXU.hl7"
CVX = "http://hl7.org/fhir/sid/cvx"

RETRACT = (
    b"MSH|^~\\&|NISTEHRAPP|NISTEHRFAC|NISTIISAPP|NISTIISFAC|20150625090000-0500||"
    b"VXU^V04^VXU_V04|NIST-IZ-DEL-1|P|2.5.1\r"
    b"PID|1||90012^^^NIST-MPI-1^MR||Wong^Elise^^^^^L||19830615|F\r"
    b"ORC|RE||38760^NIST-AA-IZ-2\r"
    b"RXA|0|1|20141012||88^influenza, unspecified formulation^CVX|999|||"
    b"01^Historical Administration^NIP001|||||||||||CP|D\r"
)


def _config(fhir_url: str, db_url: str, amqp_url: str, ns: str) -> HubConfig:
    text = f"""
hub:
  namespace: {ns}
  confirm_timeout: 5
  retry_delays: [0.2, 0.5]
systems:
  ehr:
    inbound: [{{type: mllp, name: iz, port: 0}}]
  registry:
    outbound: {{type: fhir, url: "{fhir_url}"}}
    subscribes: ["patient.*", "immunization.*"]
"""
    return parse_config(text).with_overrides(db_url=db_url, amqp_url=amqp_url)


async def _send(hub: Hub, message: bytes) -> dict[str, str | None]:
    assert hub.inbound is not None
    client = MllpClient("127.0.0.1", hub.inbound.find("ehr").server.port, timeout=10)
    try:
        ack = parse(await client.send(message))
    finally:
        await client.close()
    return {"MSA-1": ack["MSA-1"], "MSA-2": ack["MSA-2"]}


def _immunizations(sink: FhirSink) -> dict[str, dict]:
    """The sink's Immunizations by their filler order number."""
    held = sink.resources.get("Immunization", {})
    return {i["value"]: r for r in held.values() for i in r.get("identifier", []) if i.get("value")}


@pytest.mark.rabbitmq
async def test_a_vxu_is_acked_and_delivered_as_patient_and_immunizations(
    amqp_url: str, namespace: str, db_url: str
):
    raw = VXU_FILE.read_bytes().lstrip(b"\xef\xbb\xbf")
    async with (
        FhirSink() as sink,
        Hub(_config(sink.base_url, db_url, amqp_url, namespace)) as hub,
    ):
        assert hub.store is not None
        ack = await _send(hub, raw)
        assert ack == {"MSA-1": "AA", "MSA-2": "NIST-IZ-AD-2.1_Send_V04_Z22"}
        (stored,) = await hub.store.list_messages(direction="in")
        assert stored.message_key == "VXU^V04" and stored.status == "accepted"

        await eventually(lambda: sink.count("Immunization") == 3 and sink.count("Patient"))
        shots = _immunizations(sink)
        first = FhirImmunization.model_validate(shots["13696"])
        assert first.status == "completed"
        assert first.vaccineCode.coding[0].code == "49281-0215-88"
        assert first.lotNumber == "315841" and first.primarySource is True
        assert first.patient.identifier.value == "90012"
        historical = FhirImmunization.model_validate(shots["38760"])
        assert historical.primarySource is False
        assert historical.vaccineCode.coding[0].system == CVX
        (patient,) = sink.resources["Patient"].values()
        assert patient["name"][0]["family"] == "Wong"

        # RXA-21 D: the registry's copy becomes entered-in-error, not a fourth dose
        assert (await _send(hub, RETRACT))["MSA-1"] == "AA"
        await eventually(lambda: _immunizations(sink)["38760"]["status"] == "entered-in-error")
        assert sink.count("Immunization") == 3

        async def delivered() -> bool:
            rows = await hub.store.list_deliveries(destination="registry")
            kinds = [r.event_kind for r in rows if r.status == "delivered"]
            recorded = kinds.count("immunization.recorded") == 3
            return recorded and "immunization.entered_in_error" in kinds

        await eventually(delivered)


# ------------------------------------------------------------------ FHIR client → HL7 v2

FHIR_CONFIG = """
hub:
  namespace: {ns}
  retry_delays: [0.1]
  http: {{port: 0}}
systems:
  portal:
    inbound: [{{type: fhir, client: portal}}]
  iis:
    outbound: {{type: mllp, host: 127.0.0.1, port: {lab}, timeout: 5,
               receiving_application: IIS, receiving_facility: STATE}}
    subscribes: ["immunization.*"]
clients:
  portal: {{token_env: T_IZ_PORTAL, scopes: ["system/*.cruds"]}}
  registrar: {{token_env: T_IZ_REGISTRAR, scopes: ["system/Patient.cruds"]}}
  vaccinator: {{token_env: T_IZ_VACCINATOR, scopes: ["system/Immunization.c"]}}
"""
HEADERS = {"Authorization": "Bearer iz-portal-token", "Content-Type": "application/fhir+json"}
IMMUNIZATION = {
    "resourceType": "Immunization",
    "identifier": [{"system": "urn:example:portal-iz", "value": "IZ-POST-1"}],
    "status": "completed",
    "vaccineCode": {"coding": [{"system": CVX, "code": "140", "display": "Influenza"}]},
    "patient": {
        "identifier": {"system": "urn:example:portal-mrn", "value": "MRN-77"},
        "display": "Ngata, Aroha",
    },
    "occurrenceDateTime": "2024-10-01T10:30:00-05:00",
    "primarySource": True,
    "lotNumber": "FLU-2024-A",
    "route": {
        "coding": [
            {"system": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "code": "C28161"}
        ]
    },
}


@pytest.fixture
async def portal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Hub, MllpSink, aiohttp.ClientSession]]:
    monkeypatch.setenv("T_IZ_PORTAL", "iz-portal-token")
    monkeypatch.setenv("T_IZ_REGISTRAR", "iz-registrar-token")
    monkeypatch.setenv("T_IZ_VACCINATOR", "iz-vaccinator-token")
    async with MllpSink() as iis:
        text = FHIR_CONFIG.format(ns="izfhir", lab=iis.port)
        cfg = parse_config(text).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
        async with Hub(cfg) as hub, aiohttp.ClientSession(headers=HEADERS) as http:
            yield hub, iis, http


async def test_a_posted_immunization_reaches_an_hl7_destination_as_vxu_and_its_delete_as_d(
    portal: tuple[Hub, MllpSink, aiohttp.ClientSession],
):
    hub, iis, http = portal
    assert hub.http is not None
    base = f"http://127.0.0.1:{hub.http.port}/fhir"
    async with http.post(f"{base}/Immunization", json=IMMUNIZATION) as resp:
        assert resp.status == 201, await resp.text()
        created = await resp.json()
    assert created["resourceType"] == "Immunization" and created["status"] == "completed"

    await eventually(lambda: len(iis.received) == 1)
    raw = iis.received[0]
    assert validate_strict(raw).ok, validate_strict(raw).as_list()
    vxu = parse(raw)
    assert vxu.get("MSH-9") == "VXU" and vxu.get("MSH-9.2") == "V04"
    assert (vxu["MSH-5"], vxu["MSH-6"]) == ("IIS", "STATE")
    assert vxu.get("PID-3.1") == "MRN-77"
    assert vxu.get("ORC-3.1") == "IZ-POST-1"
    assert (vxu.get("RXA-5.1"), vxu.get("RXA-5.3")) == ("140", "CVX")
    assert (vxu.get("RXA-15"), vxu.get("RXA-20"), vxu.get("RXA-21")) == ("FLU-2024-A", "CP", "A")

    # searchable as a client expects: by vaccine code, by patient, by date
    query = f"vaccine-code={CVX}|140&date=ge2024-10-01&identifier=IZ-POST-1"
    async with http.get(f"{base}/Immunization?{query}") as resp:
        found = await resp.json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [created["id"]]
    async with http.get(f"{base}/Immunization?vaccine-code={CVX}|08") as resp:
        assert not (await resp.json()).get("entry")

    async with http.delete(f"{base}/Immunization/{created['id']}") as resp:
        assert resp.status == 204, await resp.text()
    await eventually(lambda: len(iis.received) == 2)
    retract = parse(iis.received[1])
    assert retract.get("RXA-21") == "D" and retract.get("ORC-3.1") == "IZ-POST-1"
    assert validate_strict(iis.received[1]).ok


async def test_writing_an_immunization_takes_an_immunization_scope(
    portal: tuple[Hub, MllpSink, aiohttp.ClientSession],
):
    hub, iis, http = portal
    assert hub.http is not None
    url = f"http://127.0.0.1:{hub.http.port}/fhir/Immunization"

    def auth(token: str) -> dict[str, str]:
        return {**HEADERS, "Authorization": f"Bearer {token}"}

    async with http.post(url, json=IMMUNIZATION, headers=auth("iz-registrar-token")) as resp:
        assert resp.status == 403  # system/Patient.cruds writes patients, not immunizations
    other = {**IMMUNIZATION, "identifier": [{"system": "urn:example:portal-iz", "value": "IZ-C"}]}
    async with http.post(url, json=other, headers=auth("iz-vaccinator-token")) as resp:
        assert resp.status == 201, await resp.text()
    await eventually(lambda: len(iis.received) == 1)
    assert parse(iis.received[0]).get("ORC-3.1") == "IZ-C"


async def test_an_immunization_referencing_a_hub_patient_goes_out_with_its_identifiers(
    portal: tuple[Hub, MllpSink, aiohttp.ClientSession],
):
    """The usual FHIR client: the patient by its server id (``Patient/123``), not by an
    identifier; the VXU's PID-3 still names the patient by the MRN the hub knows."""
    hub, iis, http = portal
    assert hub.http is not None
    base = f"http://127.0.0.1:{hub.http.port}/fhir"
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:example:portal-mrn", "value": "MRN-88"}],
        "name": [{"family": "Ngata", "given": ["Aroha"]}],
        "birthDate": "2019-08-30",
    }
    async with http.post(f"{base}/Patient", json=patient) as resp:
        assert resp.status == 201, await resp.text()
        patient_id = (await resp.json())["id"]
    shot = {
        **IMMUNIZATION,
        "identifier": [{"system": "urn:example:portal-iz", "value": "IZ-REF-1"}],
        "patient": {"reference": f"Patient/{patient_id}"},
    }
    async with http.post(f"{base}/Immunization", json=shot) as resp:
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["patient"]["reference"] == f"Patient/{patient_id}"
    await eventually(lambda: len(iis.received) == 1)
    vxu = parse(iis.received[0])
    assert vxu.get("PID-3.1") == "MRN-88"
    assert validate_strict(iis.received[0]).ok
