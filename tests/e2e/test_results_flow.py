"""Results end to end: an ORU^R01 over MLLP is AA'd and its results and report reach a FHIR
server as Observations and a DiagnosticReport (RabbitMQ, SQLite and PostgreSQL); a FHIR client
POSTing an Observation and a DocumentReference to /fhir has them delivered to an HL7 v2
partner as strict-valid ORU^R01 and MDM^T02."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from fhir.resources.R4B.diagnosticreport import DiagnosticReport as FhirReport
from fhir.resources.R4B.observation import Observation as FhirObservation

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink, MllpSink
from conformance.hl7v2 import validate_strict
from hub.config import parse_config
from tests.e2e.test_adt_to_fhir import wait_for

ORU = (
    b"MSH|^~\\&|LIS|LAB|CAREHUB|HUB|20261128093000+0100||ORU^R01^ORU_R01|LAB-0001|P|2.5.1\r"
    b"PID|1||4455667^^^GOODHEALTH&1.2.840.114350&ISO^MR||Okonkwo^Chidinma^A||19850214|F\r"
    b"OBR|1|PL-77^EHR|FL-77^LAB|24331-1^Lipid panel^LN|||20261128080000+0100"
    + b"|"
    * 17
    + b"CH|F\r"
    b"OBX|1|NM|2093-3^Cholesterol^LN||212|mg/dL^^UCUM|100-199|H|||F\r"
    b"OBX|2|SN|2571-8^Triglyceride^LN||<^150|mg/dL^^UCUM||N|||F\r"
    b"OBX|3|CWE|600-7^Culture^LN||3092008^Staph aureus^SCT||||||P\r"
)


def _config(sink_url: str, namespace: str) -> str:
    return f"""
hub:
  namespace: {namespace}
  confirm_timeout: 2
  retry_delays: [0.2, 0.5]
systems:
  lis:
    inbound: [{{type: mllp, port: 0}}]
  ehr:
    outbound: {{type: fhir, url: "{sink_url}"}}
    subscribes: ["result.*", "report.*"]
"""


@pytest.fixture
async def sink() -> AsyncIterator[FhirSink]:
    async with FhirSink() as s:
        yield s


@pytest.mark.rabbitmq
async def test_an_oru_is_acked_and_delivered_as_observations_and_a_report(
    sink: FhirSink, amqp_url: str, namespace: str, db_url: str
):
    cfg = parse_config(_config(sink.base_url, namespace)).with_overrides(
        db_url=db_url, amqp_url=amqp_url
    )
    async with Hub(cfg) as hub:
        assert hub.inbound is not None and hub.store is not None
        client = MllpClient("127.0.0.1", hub.inbound.find("lis").server.port, timeout=10)
        ack = parse(await client.send(ORU))
        await client.close()
        assert ack["MSA-1"] == "AA" and ack["MSA-2"] == "LAB-0001"
        stored = await hub.store.list_messages(direction="in")
        assert stored[0].raw == ORU and stored[0].message_key == "ORU^R01"

        await wait_for(
            lambda: sink.count("Observation") == 3 and sink.count("DiagnosticReport") == 1
        )
        observations = [
            FhirObservation.model_validate(r) for r in sink.resources["Observation"].values()
        ]
        by_code = {o.code.coding[0].code: o for o in observations}
        chol = by_code["2093-3"]
        assert float(chol.valueQuantity.value) == 212 and chol.valueQuantity.code == "mg/dL"
        assert chol.interpretation[0].coding[0].code == "H"
        assert chol.referenceRange[0].low.value == 100 and chol.status == "final"
        assert by_code["2571-8"].valueQuantity.comparator == "<"
        assert by_code["600-7"].valueCodeableConcept.coding[0].code == "3092008"
        assert by_code["600-7"].status == "preliminary"
        for obs in observations:  # every result names the patient by its MRN
            assert obs.subject is not None
            assert "4455667" in json.dumps(obs.subject.model_dump(mode="json"))
        (report_json,) = sink.resources["DiagnosticReport"].values()
        report = FhirReport.model_validate(report_json)
        assert report.status == "final" and report.category[0].coding[0].code == "CH"
        assert len(report.result) == 3
        result_ids = {r.identifier.value for r in report.result}
        assert result_ids == {o.identifier[0].value for o in observations}

        async def delivered() -> list:
            return await hub.store.list_deliveries(destination="ehr", status="delivered")

        await wait_for(lambda: sink.count("DiagnosticReport") == 1)
        for _ in range(100):
            if len(await delivered()) == 4:
                break
            await asyncio.sleep(0.05)
        kinds = sorted(r.event_kind for r in await delivered())
        assert kinds == ["report.issued", "result.reported", "result.reported", "result.reported"]


async def test_an_oru_with_a_value_not_of_its_type_is_answered_ae_naming_obx5(
    sink: FhirSink, tmp_path: Path
):
    bad = ORU.replace(b"||212|", b"||high|")
    cfg = parse_config(_config(sink.base_url, "resbad")).with_overrides(
        db_url=f"sqlite:///{tmp_path / 'h.db'}"
    )
    async with Hub(cfg) as hub:
        assert hub.inbound is not None and hub.store is not None
        client = MllpClient("127.0.0.1", hub.inbound.find("lis").server.port, timeout=10)
        ack = parse(await client.send(bad))
        await client.close()
        assert ack["MSA-1"] == "AE" and ack["ERR-3.1"] == "102"
        assert ack["ERR-2.1"] == "OBX" and ack["ERR-2.3"] == "5"
        stored = await hub.store.list_messages(direction="in")
        assert stored[0].raw == bad  # kept, not lost
    assert sink.requests == []


FHIR_CONFIG = """
hub:
  namespace: resfhir
  retry_delays: [0.1]
  http: {{port: 0}}
systems:
  ehr:
    inbound:
      - {{type: fhir, client: ehrclient}}
  lis:
    outbound: {{type: mllp, host: 127.0.0.1, port: {port}, timeout: 5,
               receiving_application: LIS, receiving_facility: LAB}}
    subscribes: ["result.*", "document.*"]
clients:
  ehrclient: {{token_env: RESULTS_T_EHR, scopes: ["system/*.*"], system: ehr}}
"""

SUBJECT = {
    "identifier": {"system": "urn:oid:1.2.840.114350", "value": "4455667"},
    "display": "Okonkwo, Chidinma",
}
OBSERVATION = {
    "resourceType": "Observation",
    "identifier": [{"system": "http://ehr.example/obs", "value": "POC-1"}],
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
    "subject": {"type": "Patient", **SUBJECT},
    "effectiveDateTime": "2026-11-28T08:00:00+01:00",
    "valueQuantity": {
        "value": 5.4,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    },
}
DOCUMENT = {
    "resourceType": "DocumentReference",
    "masterIdentifier": {"system": "http://ehr.example/doc", "value": "DOC-1"},
    "status": "current",
    "docStatus": "final",
    "type": {
        "coding": [
            {"system": "http://loinc.org", "code": "18842-5", "display": "Discharge summary"}
        ]
    },
    "subject": {"type": "Patient", **SUBJECT},
    "content": [
        {
            "attachment": {
                "contentType": "application/pdf",
                "data": base64.b64encode(b"%PDF-1.4").decode(),
            }
        }
    ],
}


async def test_fhir_observation_and_document_reach_an_hl7_partner_as_oru_and_mdm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RESULTS_T_EHR", "tok-results-ehr-81f2")
    async with MllpSink() as partner:
        cfg = parse_config(FHIR_CONFIG.format(port=partner.port)).with_overrides(
            db_url=f"sqlite:///{tmp_path / 'h.db'}"
        )
        async with Hub(cfg) as hub:
            assert hub.http is not None
            url = f"http://127.0.0.1:{hub.http.port}/fhir"
            headers = {
                "Authorization": "Bearer tok-results-ehr-81f2",
                "Content-Type": "application/fhir+json",
            }
            async with aiohttp.ClientSession() as http:
                for body in (OBSERVATION, DOCUMENT):
                    async with http.post(
                        f"{url}/{body['resourceType']}", data=json.dumps(body), headers=headers
                    ) as resp:
                        assert resp.status == 201, await resp.text()
            await wait_for(lambda: len(partner.received) >= 2)
    messages = {parse(m)["MSH-9.1"]: m for m in partner.received}
    oru, mdm = parse(messages["ORU"]), parse(messages["MDM"])
    for raw in messages.values():
        assert validate_strict(raw).ok, validate_strict(raw).as_list()
    assert oru["MSH-5"] == "LIS" and oru["PID-3.1"] == "4455667"
    assert oru["OBX-2"] == "NM" and oru["OBX-5"] == "5.4" and oru["OBX-3.1"] == "2345-7"
    assert oru["OBX-6.1"] == "mmol/L" and oru["OBX-6.3"] == "UCUM" and oru["OBX-11"] == "F"
    assert mdm["TXA-12.1"] == "DOC-1" and mdm["TXA-17"] == "AU" and mdm["OBX-2"] == "ED"
    assert base64.b64decode(mdm["OBX-5.5"] or "") == b"%PDF-1.4"
