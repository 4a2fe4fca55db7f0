"""X12 through a watched inbox: claims out of an 837 reach a FHIR partner; the 999 lands
in the partner's ack folder; a repeated interchange gets TA1 025; a broken one goes to the
error folder with its findings — nothing lost."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from adapters.x12 import parse
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink
from hub.config import parse_config
from tests.e2e.test_adt_to_fhir import wait_for

CLAIMS = "lfhx12__837_005010X222A2_demo.autoaccident.837"


def _config(inbox: Path, sink_url: str) -> str:
    return f"""
hub: {{namespace: x12in}}
systems:
  clearinghouse:
    inbound: [{{type: x12-inbox, path: "{inbox}", poll_seconds: 0.1, settle_seconds: 0}}]
  billing:
    outbound: {{type: fhir, url: "{sink_url}"}}
    subscribes: ["claim.*"]
"""


def _drop(inbox: Path, name: str, data: bytes) -> None:
    tmp = inbox / f".{name}.part"
    tmp.write_bytes(data)
    os.replace(tmp, inbox / name)


async def _answers(acks: Path, count: int) -> list[bytes]:
    await wait_for(lambda: len([p for p in acks.glob("*") if not p.name.startswith(".")]) >= count)
    return [p.read_bytes() for p in sorted(acks.glob("*")) if not p.name.startswith(".")]


async def test_837_claims_are_delivered_and_answered_with_an_accepting_999(
    tmp_path: Path, corpus: Path
):
    inbox = tmp_path / "inbox"
    data = (corpus / "x12" / CLAIMS).read_bytes()
    async with FhirSink() as sink:
        cfg = parse_config(_config(inbox, sink.base_url)).with_overrides(
            db_url=f"sqlite:///{tmp_path / 'h.db'}"
        )
        async with Hub(cfg) as hub:
            _drop(inbox, "claims.edi", data)
            await wait_for(lambda: sink.count("Claim") == 1)
            answers = await _answers(inbox / "acks", 1)
            archived = list((inbox / "archive").rglob("claims.edi"))
            assert hub.store is not None
            stored = await hub.store.list_messages(direction="in", system="clearinghouse")
    assert len(archived) == 1 and archived[0].read_bytes() == data
    assert stored[0].raw == data and stored[0].status == "accepted"
    (ack_999,) = [a for a in answers if b"999" in a and b"IK5" in a]
    ts = next(parse(ack_999).transaction_sets())
    assert ts.id == "999"
    assert any(s.id == "IK5" and s.element(1) == "A" for s in ts.segments)
    assert any(s.id == "AK9" and s.element(1) == "A" for s in ts.segments)


async def test_a_repeated_interchange_gets_ta1_025_and_is_not_delivered_again(
    tmp_path: Path, corpus: Path
):
    inbox = tmp_path / "inbox"
    data = (corpus / "x12" / CLAIMS).read_bytes()
    async with FhirSink() as sink:
        cfg = parse_config(_config(inbox, sink.base_url)).with_overrides(
            db_url=f"sqlite:///{tmp_path / 'h.db'}"
        )
        async with Hub(cfg):
            _drop(inbox, "first.edi", data)
            await wait_for(lambda: sink.count("Claim") == 1)
            _drop(inbox, "again.edi", data)
            answers = await _answers(inbox / "acks", 3)
            await asyncio.sleep(0.5)
    assert sink.applied["Claim"] == 1
    ta1 = [a for a in answers if b"TA1" in a]
    assert any(b"*R*025" in a for a in ta1)  # rejected: duplicate interchange control


async def test_a_broken_interchange_goes_to_error_with_findings_and_a_ta1(
    tmp_path: Path, corpus: Path
):
    inbox = tmp_path / "inbox"
    data = (corpus / "x12" / CLAIMS).read_bytes()
    isa13 = data[90:99]
    broken = data.replace(b"IEA*1*" + isa13, b"IEA*1*999999999")  # ISA13 ≠ IEA02
    async with FhirSink() as sink:
        cfg = parse_config(_config(inbox, sink.base_url)).with_overrides(
            db_url=f"sqlite:///{tmp_path / 'h.db'}"
        )
        async with Hub(cfg) as hub:
            _drop(inbox, "broken.edi", broken)
            await wait_for((inbox / "error" / "broken.edi").exists)
            answers = await _answers(inbox / "acks", 1)
            assert hub.store is not None
            stored = await hub.store.list_messages(direction="in")
    assert stored[0].raw == broken
    assert (inbox / "error" / "broken.edi.findings.json").exists()
    assert b"TA1" in answers[0] and b"*001*" in answers[0].replace(b"~", b"*")
    assert sink.requests == []
