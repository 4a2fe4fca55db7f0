"""What a port refuses before it can be parsed — a FHIR body of the wrong kind, an HTTP body
that is not X12, an MLLP frame that never ends — is kept through one place,
``Pipeline.refuse``: stored as a rejected message with its finding and the answer sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from carehub.app.hub import Hub
from hub.pipeline import InboundResult, Pipeline
from tests.hostile.hubkit import FHIR_TOKEN, FRAME_TIMEOUT, X12_TOKEN, find_raw, post, raw_exchange

PARTIAL = (
    b"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128093000||ADT^A04^ADT_A01|REFUSE-1|P|2.5.1\r"
    b"PID|1||R-1^^^GOODHEALTH^MR||Refused^Frame\r"
)


async def test_every_port_keeps_its_refusals_through_pipeline_refuse(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
):
    seen: list[tuple[str, bytes]] = []
    original = Pipeline.refuse

    async def spy(self: Pipeline, format: str, raw: bytes, *args: Any, **kw: Any) -> InboundResult:
        seen.append((format, raw))
        return await original(self, format, raw, *args, **kw)

    monkeypatch.setattr(Pipeline, "refuse", spy)
    xml = b'<Patient xmlns="http://hl7.org/fhir"/>'
    not_x12 = b"<claim>not X12</claim>"
    async with asyncio.timeout(FRAME_TIMEOUT + 15):
        fhir = await post(hub, "/fhir/Patient", xml, token=FHIR_TOKEN)
        x12 = await post(hub, "/x12/payer", not_x12, token=X12_TOKEN, content_type="text/plain")
        await raw_exchange(hub, b"\x0b" + PARTIAL, read_for=FRAME_TIMEOUT + 3)
    assert (fhir[0], x12[0]) == (415, 415)
    assert seen == [("fhir", xml), ("x12", not_x12), ("hl7v2", PARTIAL)]

    kept_fhir = await find_raw(hub, lambda m: m.raw == xml)
    assert (kept_fhir.status, kept_fhir.format, kept_fhir.port) == ("rejected", "fhir", "fhir")
    finding = kept_fhir.findings[0]
    assert finding["severity"] == "fatal" and finding["code"] == "structure"
    assert finding["text"].startswith("HTTP 415: ") and finding["format_code"] == "not-supported"

    kept_x12 = await find_raw(hub, lambda m: m.raw == not_x12)
    assert (kept_x12.status, kept_x12.format, kept_x12.port) == ("rejected", "x12", "edi")
    assert kept_x12.findings == [
        {
            "severity": "fatal",
            "code": "structure",
            "text": "the body is not an X12 interchange (no ISA)",
        }
    ]
    assert kept_x12.ack == b"HTTP 415"

    kept_hl7 = await find_raw(hub, lambda m: m.raw == PARTIAL)
    assert (kept_hl7.status, kept_hl7.format) == ("rejected", "hl7v2")
    assert kept_hl7.ack is not None and b"MSA|AR|REFUSE-1" in kept_hl7.ack
