"""A reused control id never gets another message's answer (issue 12, item 1), in the
pipeline, on SQLite and PostgreSQL.

Same sender + MSH-10 and the same content (framing and line-ending style left out): the
original answer, nothing published. Same key, other content: processed as a new message
with a warning (ERR-3 205, ERR-4 W) — or AR 205 on a port that rejects reused control ids —
and never the stored answer of the earlier message. Its event ids differ, so nothing
downstream skips it as "already applied".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from adapters.hl7v2 import parse
from carehub.app.hl7v2 import Hl7v2Inbound
from carehub.app.x12 import X12Inbound
from hub.judge import InboundOutcome, ReusedControlId
from hub.pipeline import InboundFormat, InboundResult, Pipeline
from hub.store import SqlStore
from hub.store import schema as t
from queues import MemoryTransport, build_topology, ingress_exchange, sync_queue
from tests.e2e.test_adt_to_fhir import A04 as _A04

NS = "reuse"
A04 = _A04.replace(b"MSG-A04-0001", b"MSG00001")
#: an A08 of another patient, under the A04's control id (a test feed's MSG00001)
A08_OTHER = (
    A04.replace(b"ADT^A04^ADT_A01", b"ADT^A08^ADT_A01")
    .replace(b"EVN|A04|", b"EVN|A08|")
    .replace(b"4455667", b"7788990")
    .replace(b"Okonkwo^Chidinma^A", b"Adeyemi^Tunde")
)
CLAIMS = "lfhx12__837_005010X222A2_demo.autoaccident.837"


@dataclass
class Rig:
    store: SqlStore
    transport: MemoryTransport
    pipeline: Pipeline

    async def send(
        self,
        raw: bytes,
        fmt: InboundFormat[Any] | None = None,
        *,
        system: str = "ehr",
        policy: ReusedControlId = ReusedControlId.PROCESS,
    ) -> InboundResult:
        return await self.pipeline.receive(
            fmt or Hl7v2Inbound(), raw, system=system, port="p", reused_control_id=policy
        )

    async def published(self) -> int:
        return (await self.transport.queue_depths())[sync_queue(NS)]


@pytest.fixture
async def rig(db_url: str) -> AsyncIterator[Rig]:
    store = await SqlStore.open(db_url)
    transport = MemoryTransport()
    await transport.start(build_topology(NS, {}))
    try:
        pipeline = Pipeline(store, transport, ingress_exchange=ingress_exchange(NS))
        yield Rig(store, transport, pipeline)
    finally:
        await transport.close()
        await store.close()


def findings_205(result: InboundResult) -> list[str]:
    return [f.severity.value for f in result.report.findings if f.format_code == "205"]


async def test_a_resend_in_another_line_ending_style_is_a_duplicate(rig: Rig):
    first = await rig.send(A04)
    assert first.outcome is InboundOutcome.ACCEPTED
    published = await rig.published()
    for resend in (
        A04,
        A04.replace(b"\r", b"\n"),
        A04.replace(b"\r", b"\r\n") + b"\r\n\r\n",
        A04.rstrip(b"\r"),
    ):
        again = await rig.send(resend)
        assert again.outcome is InboundOutcome.DUPLICATE
        assert again.response == first.response  # the original answer, byte for byte
    assert await rig.published() == published  # nothing published again


async def test_another_message_under_a_reused_control_id_is_processed_with_a_warning(
    rig: Rig,
):
    first = await rig.send(A04)
    published = await rig.published()
    second = await rig.send(A08_OTHER)

    assert second.outcome is InboundOutcome.ACCEPTED
    assert second.response != first.response
    ack = parse(second.response)
    assert ack["MSA-1"] == "AA" and ack["MSA-2"] == "MSG00001"
    assert ack["ERR-3.1"] == "205" and ack["ERR-4"] == "W"
    assert (ack["ERR-2.1"], ack["ERR-2.3"]) == ("MSH", "10")
    assert "already used by message" in ack["ERR-8"]
    # processed: its events published, under ids of their own
    assert await rig.published() > published
    assert not {e.id for e in first.events} & {e.id for e in second.events}
    assert second.events[0].kind.value == "patient.updated"
    # in the message log: accepted, not a duplicate, with the warning among its findings
    assert second.message_id is not None and first.message_id is not None
    row = await rig.store.get_message(second.message_id)
    original = await rig.store.get_message(first.message_id)
    assert row is not None and original is not None
    assert row.status == "accepted" and row.duplicate_of is None
    assert any(f["format_code"] == "205" and f["severity"] == "warning" for f in row.findings)
    assert row.digest and original.digest and row.digest != original.digest


async def test_each_message_under_the_reused_id_gets_its_own_answer_again(rig: Rig):
    first = await rig.send(A04)
    second = await rig.send(A08_OTHER)
    assert second.response != first.response
    published = await rig.published()
    second_again = await rig.send(A08_OTHER.replace(b"\r", b"\n"))
    first_again = await rig.send(A04)
    assert second_again.outcome is first_again.outcome is InboundOutcome.DUPLICATE
    assert second_again.response == second.response
    assert first_again.response == first.response
    assert await rig.published() == published


async def test_a_port_that_rejects_reused_control_ids_answers_ar_205(rig: Rig):
    reject = ReusedControlId.REJECT
    first = await rig.send(A04, policy=reject)
    published = await rig.published()
    second = await rig.send(A08_OTHER, policy=reject)

    assert second.outcome is InboundOutcome.REJECTED
    ack = parse(second.response)
    assert ack["MSA-1"] == "AR" and ack["MSA-2"] == "MSG00001"
    assert ack["ERR-3.1"] == "205" and ack["ERR-4"] == "E"
    assert "send it with a new control id" in ack["ERR-8"]
    assert await rig.published() == published and not second.events
    assert second.message_id is not None
    row = await rig.store.get_message(second.message_id)
    assert row is not None and row.status == "rejected" and row.raw == A08_OTHER  # kept
    # the same message again is still a plain duplicate with the original answer
    again = await rig.send(A04, policy=reject)
    assert again.outcome is InboundOutcome.DUPLICATE and again.response == first.response


async def test_rows_stored_before_schema_3_are_compared_by_their_raw_bytes(rig: Rig):
    """A message stored before messages.digest existed has none: its digest is computed
    from its raw bytes, so its resend is still a duplicate and another message is not."""
    first = await rig.send(A04)
    assert first.message_id is not None
    await rig.store.update_message(first.message_id, digest=None)
    again = await rig.send(A04.replace(b"\r", b"\n"))
    assert again.outcome is InboundOutcome.DUPLICATE and again.response == first.response
    other = await rig.send(A08_OTHER)
    assert other.outcome is InboundOutcome.ACCEPTED and findings_205(other) == ["warning"]


async def test_a_reused_isa13_with_other_content_is_processed_with_a_warning(
    rig: Rig, corpus: Path
):
    claims = (corpus / "x12" / CLAIMS).read_bytes()
    other = claims.replace(b"CLM*900000032*185.00", b"CLM*900000099*210.00")
    assert other != claims
    x12 = X12Inbound(rig.store, partner="payer")

    first = await rig.send(claims, x12, system="payer")
    assert first.outcome is InboundOutcome.ACCEPTED
    second = await rig.send(other, x12, system="payer")
    assert second.outcome is InboundOutcome.ACCEPTED and findings_205(second) == ["warning"]
    assert not {e.id for e in first.events} & {e.id for e in second.events}
    # the same interchange again (line breaks are layout) is the duplicate, as before
    again = await rig.send(claims.replace(b"~", b"~\r\n"), x12, system="payer")
    assert again.outcome is InboundOutcome.DUPLICATE


async def test_migrate_adds_the_digest_column_to_a_version_2_database(db_url: str):
    store = await SqlStore.open(db_url)
    try:
        await store._tx(lambda c: c.execute(text("ALTER TABLE messages DROP COLUMN digest")))
        await store._tx(lambda c: c.execute(text("UPDATE carehub_schema SET version = 2")))
    finally:
        await store.close()
    store = await SqlStore.open(db_url)  # migrates
    try:
        version = await store._tx(lambda c: c.execute(text("SELECT version FROM carehub_schema")))
        assert version.scalar_one() == t.SCHEMA_VERSION == 3
        mid = await store.record_message(
            direction="in", system="ehr", format="hl7v2", raw=A04, digest="d" * 64
        )
        row = await store.get_message(mid)
        assert row is not None and row.digest == "d" * 64
    finally:
        await store.close()
