"""Every message received, read, sent, replayed or parked leaves an audit record saying who,
what, when, from where and with what outcome — driven through a running hub: MLLP in, FHIR
read, delivery to a partner FHIR server, a partner refusal that parks, an admin replay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from hub.records import AuditRecord
from tests.e2e.test_adt_to_fhir import A04
from tests.security.seckit import REFUSED_MRN, base, bearer, secured_hub

# another person (name, birth date, MRN): the partner refuses this one
REFUSED = (
    A04.replace(b"4455667", REFUSED_MRN.encode())
    .replace(b"MSG-A04-0001", b"MSG-PARK-1")
    .replace(b"Okonkwo^Chidinma^A", b"Lindqvist^Maja^B")
    .replace(b"|19850214|F|", b"|19700301|F|")
)


async def until(predicate, seconds: float = 15.0):
    async with asyncio.timeout(seconds):
        while not (result := await predicate()):
            await asyncio.sleep(0.05)
    return result


def complete(record: AuditRecord, started: datetime) -> None:
    """who, what, when, from where, outcome — all there."""
    assert record.actor and record.action and record.outcome and record.subject
    assert record.peer, f"{record.action} has no 'from where'"
    assert started - timedelta(seconds=1) <= record.at <= datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_received_read_sent_parked_and_replayed_are_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
):
    from contextlib import AsyncExitStack

    from tests.conftest import fresh_pg_database

    started = datetime.now(UTC)
    async with AsyncExitStack() as stack:
        db_url = None
        if database == "postgresql":
            db_url = await stack.enter_async_context(fresh_pg_database())
        hub, _sink = await stack.enter_async_context(
            secured_hub(tmp_path, monkeypatch, db_url=db_url)
        )
        store = hub.store
        assert store is not None and hub.inbound is not None
        port = hub.inbound.find("ehr").server.port
        async with MllpClient("127.0.0.1", port, timeout=10) as client:
            assert parse(await client.send(A04))["MSA-1"] == "AA"
            assert parse(await client.send(REFUSED))["MSA-1"] == "AA"

        received = await until(lambda: store.audit_trail(action="received"))
        sent = await until(lambda: store.audit_trail(action="sent"))
        parked = await until(lambda: store.audit_trail(action="parked"))

        async with aiohttp.ClientSession() as http:
            url = f"{base(hub)}/fhir/Patient?identifier=4455667"
            async with http.get(url, headers=bearer("reader")) as resp:
                found = await resp.json()
            patient_id = found["entry"][0]["resource"]["id"]
            async with http.get(
                f"{base(hub)}/fhir/Patient/{patient_id}", headers=bearer("reader")
            ) as resp:
                assert resp.status == 200
            replay = f"{base(hub)}/admin/parked/billing/replay"
            async with http.post(replay, headers=bearer("ops")) as resp:
                assert (await resp.json())["replayed"] >= 1

        reads = await store.audit_trail(action="read")
        replayed = await store.audit_trail(action="replayed")

        assert {r.actor for r in received} == {"ehr"}
        assert {r.outcome for r in received} == {"accepted"}
        assert all(r.peer and r.peer.startswith("127.0.0.1:") for r in received)
        assert len(received) == 2
        messages = {f"message:{m.id}" for m in await store.list_messages(direction="in")}
        assert {r.subject for r in received} == messages

        assert any(r.actor == "reader" and r.subject == f"Patient/{patient_id}" for r in reads)
        assert all(r.peer == "127.0.0.1" and r.outcome == "200" for r in reads)

        assert sent[0].actor == "carehub" and sent[0].peer == "billing"
        assert sent[0].outcome == "delivered" and sent[0].subject.startswith("envelope:")
        assert parked[0].peer == "billing" and parked[0].outcome == "rejected"
        assert parked[0].subject != sent[0].subject

        assert replayed[0].actor == "ops" and replayed[0].peer == "127.0.0.1"
        assert replayed[0].subject == "destination:billing" and replayed[0].outcome == "ok"

        for record in (received[0], reads[0], sent[0], parked[0], replayed[0]):
            complete(record, started)
