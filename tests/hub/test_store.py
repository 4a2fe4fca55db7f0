"""The store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from typing import Protocol

import pytest
from sqlalchemy import text

from hub import ports
from hub.errors import StoreUnavailable
from hub.records import (
    ConstraintViolation,
    DeliveryStatus,
    DuplicateKey,
    MessageStatus,
    VersionConflict,
)
from hub.store import SqlStore, SqlUnit


@pytest.fixture
async def store(db_url: str):
    s = await SqlStore.open(db_url)
    yield s
    await s.close()


async def test_raw_message_is_kept_byte_for_byte_with_status_and_findings(store: SqlStore):
    raw = b"MSH|^~\\&|A|B\rPID|1||123\r\x00\xff"
    mid = await store.record_message(
        direction="in", system="ehr", format="hl7v2", raw=raw, port="mllp", peer="127.0.0.1:5000"
    )
    await store.update_message(
        mid,
        status="error",
        findings=[{"severity": "error", "code": "value", "text": "bad"}],
        ack=b"ACK",
        dedup_key="A|B|1",
    )
    got = await store.get_message(mid)
    assert got is not None
    assert got.raw == raw
    assert got.status == "error"
    assert got.findings == [{"severity": "error", "code": "value", "text": "bad"}]
    assert got.ack == b"ACK"
    assert got.received_at.tzinfo is not None
    assert await store.get_message("nope") is None


async def test_duplicate_lookup_only_finds_final_answers_from_the_same_system(store: SqlStore):
    first = await store.record_message(direction="in", system="ehr", format="hl7v2", raw=b"1")
    await store.update_message(first, status="accepted", dedup_key="k", ack=b"AA")
    busy = await store.record_message(direction="in", system="ehr", format="hl7v2", raw=b"2")
    await store.update_message(busy, status="unavailable", dedup_key="k2", ack=b"AR")
    found = await store.find_accepted_duplicate("ehr", "k")
    assert found is not None and found.id == first and found.ack == b"AA"
    assert await store.find_accepted_duplicate("other", "k") is None
    assert await store.find_accepted_duplicate("ehr", "k2") is None


async def test_entity_versions_are_kept_and_optimistic_writes_conflict(store: SqlStore):
    v1 = await store.save_entity("Patient", "p1", {"a": 1}, source="ehr", event_id="e1")
    v2 = await store.save_entity("Patient", "p1", {"a": 2}, source="billing", event_id="e2")
    assert (v1, v2) == (1, 2)
    current = await store.get_entity("Patient", "p1")
    assert current is not None and current.data == {"a": 2} and current.version == 2
    history = await store.entity_history("Patient", "p1")
    assert [(h.version, h.data["a"], h.source) for h in history] == [
        (1, 1, "ehr"),
        (2, 2, "billing"),
    ]
    with pytest.raises(VersionConflict):
        await store.save_entity("Patient", "p1", {"a": 3}, source="x", expected_version=1)
    old = await store.entity_version("Patient", "p1", 1)
    assert old is not None and old.data == {"a": 1}


async def test_cross_reference_links_resolves_and_repoints(store: SqlStore):
    assert (
        await store.link_identifiers("Patient", "c1", [("MRN", "1"), ("MB", "X")], source="ehr")
        == 2
    )
    # the same pair again is not new, and a pair owned by c1 is not stolen by c2
    assert await store.link_identifiers("Patient", "c2", [("MRN", "1"), ("NPI", "9")]) == 1
    found = await store.resolve_identifiers("Patient", [("MRN", "1"), ("NPI", "9"), ("Q", "0")])
    assert found == {("MRN", "1"): "c1", ("NPI", "9"): "c2"}
    assert await store.repoint_identifiers("Patient", "c2", "c1") == 1
    ids = await store.identifiers_of("Patient", "c1")
    assert {(i["namespace"], i["value"]) for i in ids} == {("MRN", "1"), ("MB", "X"), ("NPI", "9")}


async def test_control_numbers_are_never_reused_under_concurrency(db_url: str):
    stores = [await SqlStore.open(db_url) for _ in range(3)]
    try:
        got = await asyncio.gather(
            *(s.next_control_number("payer", "ISA13") for s in stores for _ in range(20))
        )
        assert sorted(got) == list(range(1, 61))
        # another partner and kind count separately
        assert await stores[0].next_control_number("payer", "GS06") == 1
        assert await stores[0].next_control_number("vendor", "ISA13") == 1
    finally:
        for s in stores:
            await s.close()


async def test_control_numbers_survive_a_restart_and_wrap(db_url: str):
    s = await SqlStore.open(db_url)
    assert [await s.next_control_number("p", "ST02", maximum=3) for _ in range(3)] == [1, 2, 3]
    await s.close()
    s = await SqlStore.open(db_url)
    assert await s.next_control_number("p", "ST02", maximum=3) == 1
    await s.close()


async def test_audit_trail_is_append_only(store: SqlStore):
    await store.audit(actor="ehr", action="received", outcome="accepted", subject="message:1")
    trail = await store.audit_trail()
    assert [(a.actor, a.action, a.outcome) for a in trail] == [("ehr", "received", "accepted")]
    for forgery in ("UPDATE audit SET outcome = 'forged'", "DELETE FROM audit"):
        # SQLite aborts with an integrity error, PostgreSQL with a raised exception
        with pytest.raises((StoreUnavailable, ConstraintViolation)) as err:
            await store._tx(lambda c, sql=forgery: c.execute(text(sql)))
        assert "append-only" in str(err.value) + str(err.value.__cause__)
    assert (await store.audit_trail())[0].outcome == "accepted"


async def test_processed_marks_are_idempotent(store: SqlStore):
    assert await store.mark_processed("sync", "e1") is True
    assert await store.mark_processed("sync", "e1") is False
    assert await store.mark_processed("other", "e1") is True
    assert await store.was_processed("sync", "e1")


async def test_deliveries_are_one_row_per_envelope_and_destination(store: SqlStore):
    await store.record_delivery(
        envelope_id="e",
        destination="billing",
        status="retrying",
        attempts=1,
        event_kind="patient.registered",
        detail="503",
    )
    await store.record_delivery(
        envelope_id="e", destination="billing", status="delivered", attempts=2
    )
    await store.record_delivery(envelope_id="e", destination="ehr", status="skipped", attempts=1)
    rows = await store.list_deliveries()
    assert [(r.destination, r.status, r.attempts) for r in rows] == [
        ("billing", "delivered", 2),
        ("ehr", "skipped", 1),
    ]
    assert await store.delivery_counts() == {"billing:delivered": 1, "ehr:skipped": 1}


async def test_schema_is_created_once_and_reopening_keeps_data(db_url: str):
    s = await SqlStore.open(db_url)
    mid = await s.record_message(direction="in", system="a", format="x", raw=b"r")
    await s.close()
    s = await SqlStore.open(db_url)
    assert (await s.get_message(mid)) is not None
    await s.close()


async def test_unreachable_database_is_a_transient_error():
    s = await SqlStore.open("postgresql://nobody@127.0.0.1:1/none", create=False)
    with pytest.raises(StoreUnavailable):
        await s.record_message(direction="in", system="a", format="x", raw=b"r")
    await s.close()


async def test_a_taken_key_is_a_duplicate_key_alone_and_inside_a_unit(store: SqlStore):
    """The database's integrity error is translated where it happens: callers see
    ``hub.records.DuplicateKey``, never SQLAlchemy, and its text quotes no value."""
    mid = await store.record_message(direction="in", system="a", format="x", raw=b"1")
    with pytest.raises(DuplicateKey) as alone:
        await store.record_message(direction="in", system="a", format="x", raw=b"2", message_id=mid)
    assert mid not in str(alone.value)
    with pytest.raises(DuplicateKey):
        async with store.unit() as unit:
            await unit.audit(actor="a", action="received", outcome="accepted")
            try:
                await unit.record_message(
                    direction="in", system="a", format="x", raw=b"3", message_id=mid
                )
            except Exception as exc:
                # inside the unit already, not only when the unit ends
                assert isinstance(exc, DuplicateKey)
                raise
    # the unit was rolled back as a whole: its audit record is gone with it
    assert await store.audit_trail() == []
    got = await store.get_message(mid)
    assert got is not None and got.raw == b"1"


async def test_statuses_are_the_strings_the_rows_hold(store: SqlStore):
    mid = await store.record_message(direction="in", system="a", format="x", raw=b"r")
    got = await store.get_message(mid)
    assert got is not None and got.status == MessageStatus.RECEIVED == "received"
    await store.update_message(mid, status=MessageStatus.ACCEPTED, dedup_key="k", ack=b"AA")
    assert await store.message_counts() == {"in:accepted": 1}
    found = await store.find_accepted_duplicate("a", "k")
    assert found is not None and found.id == mid
    await store.record_delivery(
        envelope_id="e", destination="d", status=DeliveryStatus.PARKED, attempts=1
    )
    assert await store.delivery_counts() == {"d:parked": 1}
    assert [r.status for r in await store.list_deliveries(status="parked")] == ["parked"]


async def test_records_carry_the_status_enums(store: SqlStore):
    mid = await store.record_message(direction="in", system="a", format="x", raw=b"r")
    await store.update_message(mid, status=MessageStatus.UNSUPPORTED)
    got = await store.get_message(mid)
    assert got is not None and got.status is MessageStatus.UNSUPPORTED
    await store.record_delivery(
        envelope_id="e", destination="d", status=DeliveryStatus.SKIPPED, attempts=1
    )
    delivery = await store.get_delivery("e", "d")
    assert delivery is not None and delivery.status is DeliveryStatus.SKIPPED


def test_the_protocols_name_every_operation_of_the_sql_store():
    """mypy proves SqlStore honours hub.ports.Store; this proves the converse: no operation
    of the store is left out of the protocols, where the core could not reach it."""

    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")}

    unit_ops = public(ports.Unit) - public(Protocol)
    assert public(SqlUnit) - {"conn", "dialect"} == unit_ops
    lifecycle = {"open", "close", "migrate", "ping", "unit"}
    assert public(ports.Store) - public(Protocol) == unit_ops | lifecycle
    assert public(SqlStore) - {"connect", "url", "dialect"} == unit_ops | lifecycle
    families = [
        ports.MessageLog,
        ports.DeliveryLog,
        ports.EntityState,
        ports.CrossReference,
        ports.SyncLog,
        ports.ControlNumbers,
        ports.AuditTrail,
    ]
    owned = [public(f) - public(Protocol) for f in families]
    assert sum(len(o) for o in owned) == len(unit_ops)  # each operation in one family
