"""The judgements are an explicit ordered list the engine runs: a rule added is consulted,
a rule left out is not (in-memory transport, SQLite store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.canonical import Event, EventKind, HumanName, Identifier, Patient, Provenance
from hub.envelope import Envelope
from hub.store import SqlStore
from hub.sync import Case, Decision, SyncDecision, SyncEngine, default_judgements
from queues import build_topology, events_exchange
from queues.memory import MemoryTransport


def registered(family: str, stamp: datetime, source: str = "ehr") -> Envelope:
    patient = Patient(
        identifiers=[Identifier(value="J-1", system="CLINIC")],
        names=[HumanName(family=family, given=["Jo"])],
    )
    provenance = Provenance(source_system=source, format="hl7v2", recorded_at=stamp)
    event = Event(kind=EventKind.PATIENT_UPDATED, entity=patient, provenance=provenance)
    return Envelope(source_system=source, format="hl7v2", payload=event)


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[SqlStore, MemoryTransport]]:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'r.db'}")
    transport = MemoryTransport()
    await transport.start(build_topology("rules", {"billing": ["patient.*"]}))
    try:
        yield store, transport
    finally:
        await transport.close()
        await store.close()


async def test_a_rule_left_out_of_the_list_is_not_run(
    parts: tuple[SqlStore, MemoryTransport],
) -> None:
    store, transport = parts
    later, earlier = datetime(2026, 11, 28, 10, tzinfo=UTC), datetime(2026, 11, 28, 9, tzinfo=UTC)
    judging = SyncEngine(store, transport, events_exchange=events_exchange("rules"))
    assert await judging.apply(registered("Newer", later))
    assert await judging.apply(registered("Older", earlier)) == []  # stale
    without = [r for r in default_judgements({}) if r.name != "stale"]
    lenient = SyncEngine(
        store, transport, events_exchange=events_exchange("rules"), judgements=without
    )
    (out,) = await lenient.apply(registered("Older", earlier))
    assert out.entity.names[0].family == "Older"


async def test_a_rule_added_to_the_list_is_consulted_in_order(
    parts: tuple[SqlStore, MemoryTransport],
) -> None:
    store, transport = parts
    seen: list[str] = []

    class Quarantine:
        """Holds back everything from one system (an example of a site's own rule)."""

        name = "quarantine"

        async def judge(self, case: Case) -> Decision | None:
            seen.append(case.source)
            if case.source != "lab":
                return None
            return Decision(SyncDecision.CONFLICT, "held: the lab feed is quarantined")

    rules = [*default_judgements({}), Quarantine()]
    engine = SyncEngine(
        store, transport, events_exchange=events_exchange("rules"), judgements=rules
    )
    stamp = datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert await engine.apply(registered("Kept", stamp))
    assert await engine.apply(registered("Held", stamp, source="lab")) == []
    assert seen == ["ehr", "lab"]
    (row,) = await store.list_entities("Patient")
    assert row.data["names"][0]["family"] == "Kept"
    history = await store.sync_history("Patient", row.id)
    assert [h["outcome"] for h in history] == ["applied", "conflict"]
