"""Every message received, read, sent, replayed or parked leaves an audit record saying who,
what, when, from where and with what outcome — driven through a running hub: MLLP in, FHIR
read, delivery to a partner FHIR server, a partner refusal that parks, an admin read of the
parked messages and their replay. Reads of the raw message log from the command line
(``carehub messages list/show``) are audited with the OS user; a read whose audit record
cannot be written shows nothing."""

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
            parked_list = f"{base(hub)}/admin/parked/billing"
            async with http.get(parked_list, headers=bearer("ops")) as resp:
                assert resp.status == 200 and len(await resp.json()) >= 1
            replay = f"{base(hub)}/admin/parked/billing/replay"
            async with http.post(replay, headers=bearer("ops")) as resp:
                assert (await resp.json())["replayed"] >= 1

        reads = await store.audit_trail(action="read")
        parked_reads = [r for r in reads if r.subject == "parked:billing"]
        reads = [r for r in reads if r.subject != "parked:billing"]
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

        assert len(parked_reads) == 1
        assert parked_reads[0].actor == "ops" and parked_reads[0].peer == "127.0.0.1"
        assert parked_reads[0].outcome == "ok" and parked_reads[0].detail == "1 messages"

        for record in (received[0], reads[0], sent[0], parked[0], parked_reads[0], replayed[0]):
            complete(record, started)


def refuse_audit_inserts(db_file: Path) -> None:
    """Make the database itself refuse new audit records (a real failure, from outside the
    hub: a trigger), as a full disk or a revoked grant would."""
    import sqlite3

    with sqlite3.connect(db_file) as db:
        db.execute(
            "CREATE TRIGGER audit_refused BEFORE INSERT ON audit "
            "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        )


async def test_a_parked_list_whose_read_cannot_be_audited_is_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    async with (
        secured_hub(tmp_path, monkeypatch) as (hub, _sink),
        aiohttp.ClientSession() as http,
    ):
        url = f"{base(hub)}/admin/parked/billing"
        async with http.get(url, headers=bearer("ops")) as resp:
            assert resp.status == 200
        refuse_audit_inserts(tmp_path / "sec.db")
        async with http.get(url, headers=bearer("ops")) as resp:
            assert resp.status == 503
            assert "could not be audited" in (await resp.json())["error"]
        async with http.get(url) as resp:  # a denial stands without its record
            assert resp.status == 401


def seed_message(db: str, raw: bytes) -> str:
    from hub.store import SqlStore

    async def seed() -> str:
        store = await SqlStore.open(db)
        try:
            return await store.record_message(
                direction="in", system="ehr", format="hl7v2", raw=raw, status="accepted"
            )
        finally:
            await store.close()

    return asyncio.run(seed())


def read_trail(db: str, action: str) -> list[AuditRecord]:
    from hub.store import SqlStore

    async def trail() -> list[AuditRecord]:
        store = await SqlStore.open(db)
        try:
            return await store.audit_trail(action=action)
        finally:
            await store.close()

    return asyncio.run(trail())


RAW = b"MSH|^~\\&|EHR|GH|HUB|GH|20240101||ADT^A04|M1|P|2.5.1\rPID|1||4455667||Okonkwo^Chidinma"


def test_cli_reads_of_the_message_log_are_audited_with_the_os_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import socket

    monkeypatch.setenv("LOGNAME", "audit-tester")  # the OS login name getpass reads first

    from click.testing import CliRunner

    from carehub.cli import cli

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    started = datetime.now(UTC)
    mid = seed_message(db, RAW)
    runner = CliRunner()
    for args in (
        ["messages", "list", "--system", "ehr"],
        ["messages", "show", mid],
        ["messages", "show", mid, "--raw"],
        ["messages", "show", "no-such-id"],
    ):
        runner.invoke(cli, [*args, "--db-url", db], catch_exceptions=False)
    reads = sorted(read_trail(db, "read"), key=lambda r: r.id)
    who = "cli:audit-tester"
    assert [(r.actor, r.subject, r.outcome, r.detail) for r in reads] == [
        (who, "messages", "ok", "1 listed system=ehr"),
        (who, f"message:{mid}", "ok", None),
        (who, f"message:{mid}", "ok", "raw"),
        (who, "message:no-such-id", "not-found", None),
    ]
    for record in reads:
        assert record.peer == f"cli@{socket.gethostname()}"
        complete(record, started)


def test_cli_shows_no_raw_message_when_the_read_cannot_be_audited(tmp_path: Path):
    from click.testing import CliRunner

    from carehub.cli import cli

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    mid = seed_message(db, RAW)
    refuse_audit_inserts(tmp_path / "cli.db")
    runner = CliRunner()
    for args in (
        ["messages", "show", mid, "--raw"],
        ["messages", "show", mid],
        ["messages", "list"],
    ):
        result = runner.invoke(cli, [*args, "--db-url", db], catch_exceptions=False)
        assert result.exit_code != 0, args
        assert b"Okonkwo" not in result.stdout_bytes and mid.encode() not in result.stdout_bytes
        assert "could not be written to the audit trail" in result.output
        assert "Traceback" not in result.output
