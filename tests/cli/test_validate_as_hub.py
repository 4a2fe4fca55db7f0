"""``carehub validate`` judges a file as the hub judges it on a port: the same findings as
the pipeline (``hub.pipeline.Pipeline.receive``) for the same bad message, and for FHIR the
same findings as the API's create."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from carehub.app.hl7v2 import Hl7v2Inbound
from carehub.app.x12 import X12Inbound
from carehub.cli import cli
from hub.judge import InboundOutcome
from hub.pipeline import Pipeline
from hub.store import SqlStore
from queues import MemoryTransport, build_topology, ingress_exchange
from tests.adapters.fhir.api.fhirapi_support import running_api

BAD_PID_7 = (
    b"MSH|^~\\&|A|B|C|D|20260101||ADT^A04|X1|P|2.5.1\rPID|1||123^^^H^MR||Doe^Jane||2023133|F\r"
)


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'hub.db'}")
    transport = MemoryTransport()
    await transport.start(build_topology("t", {}, retry_delays=[0.2]))
    try:
        yield Pipeline(store, transport, ingress_exchange=ingress_exchange("t"))
    finally:
        await transport.close()
        await store.close()


def validate(path: Path) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(cli, ["validate", str(path), "--json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


async def test_an_hl7_message_with_a_bad_field(pipeline: Pipeline, tmp_path: Path):
    bad = tmp_path / "bad.hl7"
    bad.write_bytes(BAD_PID_7)
    hub = await pipeline.receive(Hl7v2Inbound(), BAD_PID_7, system="ehr")
    code, (verdict,) = validate(bad)
    assert hub.outcome is InboundOutcome.CONTENT_ERROR and code == 1
    assert any(f.location and f.location.startswith("PID-7") for f in hub.report.findings)
    assert verdict["findings"] == hub.report.as_list()


async def test_an_x12_claim_with_an_error(pipeline: Pipeline, corpus: Path):
    claim = corpus / "x12" / "lfhx12__837_005010X222A2_demo.ambulance.example5.837"
    hub = await pipeline.receive(
        X12Inbound(pipeline.store, partner="payer"), claim.read_bytes(), system="payer"
    )
    code, (verdict,) = validate(claim)
    assert hub.outcome is not InboundOutcome.ACCEPTED and code == 1
    assert any(f.location == "2300/CLM05-2" for f in hub.report.findings)
    assert verdict["findings"] == hub.report.as_list()


async def test_an_x12_claim_the_hub_accepts_with_a_warning(
    pipeline: Pipeline, corpus: Path, tmp_path: Path
):
    """An envelope error that rejects no transaction set is a warning to the hub (its 999
    accepts the claim), so the file is valid: validate judges no more strictly."""
    good = corpus / "x12" / "lfhx12__837_005010X222A2_demo.autoaccident.837"
    raw = good.read_bytes()
    isa = raw.split(raw[3:4], 16)
    isa[11] = b"U"  # ISA11 is the repetition separator in 5010: never a letter
    claim = tmp_path / "isa11.837"
    claim.write_bytes(raw[3:4].join(isa))
    hub = await pipeline.receive(
        X12Inbound(pipeline.store, partner="payer"), claim.read_bytes(), system="payer"
    )
    code, (verdict,) = validate(claim)
    assert hub.outcome is InboundOutcome.ACCEPTED and code == 0
    assert [f.severity.value for f in hub.report.findings if f.location == "ISA11"] == ["warning"]
    assert verdict["findings"] == hub.report.as_list()
    assert verdict["events"] == [e.kind.value for e in hub.events]


async def test_a_fhir_resource_with_a_bad_element(tmp_path: Path):
    """A FHIR file is checked as the API checks a create: the same findings, each naming
    its element."""
    patient = {
        "resourceType": "Patient",
        "birthDate": "not a date",
        "name": [{"family": "Doe", "given": [3]}],
    }
    bad = tmp_path / "patient.json"
    bad.write_text(json.dumps(patient))
    async with running_api(f"sqlite:///{tmp_path / 'api.db'}", sync=False) as api:
        answer = await api.post("Patient", patient)
        assert answer.status == 422
        (logged,) = await api.store.list_messages(system="ehr")
    code, (verdict,) = validate(bad)
    assert code == 1
    assert {f["location"] for f in verdict["findings"]} >= {"Patient.birthDate"}
    assert verdict["findings"] == logged.findings
