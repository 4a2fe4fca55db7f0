"""Removals (``patient.removed`` …) applied by the sync engine: a tombstone version, a
``removed`` decision, the removal published with every identifier the hub knows; nothing for
a record unknown or removed before; published again when redelivered after a crash
(in-memory transport, SQLite store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.canonical import (
    REMOVED,
    EntityType,
    Event,
    EventKind,
    HumanName,
    Identifier,
    Patient,
    Provenance,
)
from hub.envelope import Envelope
from hub.store import SqlStore
from hub.sync import DELETED_SOURCE, IdentityService, SyncEngine
from queues import build_topology, events_exchange
from queues.memory import MemoryTransport


def envelope(kind: EventKind, patient: Patient, source: str) -> Envelope:
    provenance = Provenance(source_system=source, format="fhir")
    event = Event(kind=kind, entity=patient, provenance=provenance)
    return Envelope(source_system=source, format="fhir", payload=event)


def registration() -> Envelope:
    patient = Patient(
        identifiers=[Identifier(value="MRN-9", system="CLINIC")],
        names=[HumanName(family="Tane", given=["Mere"])],
    )
    return envelope(EventKind.PATIENT_REGISTERED, patient, "ehr")


def removal(canonical_id: str | None, *identifiers: Identifier) -> Envelope:
    patient = Patient(id=canonical_id, identifiers=list(identifiers))
    return envelope(REMOVED[EntityType.PATIENT], patient, "portal")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[SyncEngine]:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'r.db'}")
    transport = MemoryTransport()
    await transport.start(build_topology("rm", {}))
    try:
        yield SyncEngine(store, transport, events_exchange=events_exchange("rm"))
    finally:
        await transport.close()
        await store.close()


async def registered(engine: SyncEngine) -> str:
    (out,) = await engine.apply(registration())
    assert out.entity.id is not None
    # a second system's identifier for the same record: the removal must carry it too
    await engine.store.link_identifiers(
        "Patient", out.entity.id, [("urn:example:portal", "P-9")], source="portal"
    )
    return out.entity.id


async def test_a_removal_writes_a_tombstone_and_publishes_every_identifier(
    engine: SyncEngine,
) -> None:
    patient_id = await registered(engine)
    (out,) = await engine.apply(removal(patient_id))
    assert out.kind is EventKind.PATIENT_REMOVED
    assert out.entity.id == patient_id
    assert {(i.system, i.value) for i in out.entity.identifiers} == {
        ("CLINIC", "MRN-9"),
        ("urn:example:portal", "P-9"),
    }
    record = await engine.store.get_entity("Patient", patient_id)
    assert record is not None and record.source == DELETED_SOURCE and record.version == 2
    assert out.entity.meta.version == 2
    history = await engine.store.sync_history("Patient", patient_id)
    assert [h["outcome"] for h in history] == ["applied", "removed"]


async def test_a_removal_by_identifier_finds_the_record(engine: SyncEngine) -> None:
    patient_id = await registered(engine)
    (out,) = await engine.apply(removal(None, Identifier(value="MRN-9", system="CLINIC")))
    assert out.entity.id == patient_id


async def test_a_removal_of_a_removed_or_unknown_record_changes_nothing(
    engine: SyncEngine,
) -> None:
    patient_id = await registered(engine)
    assert await engine.apply(removal(patient_id))
    assert await engine.apply(removal(patient_id)) == []  # removed before
    assert await engine.apply(removal("no-such-id")) == []
    assert await engine.apply(removal(None, Identifier(value="NOPE", system="CLINIC"))) == []
    record = await engine.store.get_entity("Patient", patient_id)
    assert record is not None and record.version == 2
    assert await engine.store.get_entity("Patient", "no-such-id") is None
    outcomes = [h["outcome"] for h in await engine.store.sync_history("Patient", patient_id)]
    assert outcomes == ["applied", "removed", "unchanged"]


async def test_a_removal_redelivered_after_a_crash_is_published_again(
    engine: SyncEngine,
) -> None:
    patient_id = await registered(engine)
    env = removal(patient_id)
    assert await engine.apply(env, again=False)  # applied; the hub stopped before the mark
    (again,) = await engine.apply(env, again=True)
    assert again.kind is EventKind.PATIENT_REMOVED and again.entity.id == patient_id
    record = await engine.store.get_entity("Patient", patient_id)
    assert record is not None and record.version == 2  # never applied twice
    assert await engine.apply(removal(patient_id), again=True) == []  # another removal


async def test_the_engine_uses_the_identity_service_it_is_given(tmp_path: Path) -> None:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'i.db'}")
    try:
        identity = IdentityService()
        engine = SyncEngine(store, MemoryTransport(), events_exchange="x", identity=identity)
        assert engine.identity is identity
        assert engine.merger.identity is identity and engine.remover.identity is identity
    finally:
        await store.close()


async def test_a_removal_of_a_version_the_record_moved_past_is_not_applied(
    engine: SyncEngine,
) -> None:
    patient_id = await registered(engine)
    renamed = registration()
    renamed.payload.entity.names = [HumanName(family="Tane-Smith", given=["Mere"])]
    assert await engine.apply(renamed)  # version 2
    asked = removal(patient_id)
    asked.payload.entity.meta.version = 1  # a FHIR DELETE planned against version 1
    assert await engine.apply(asked) == []
    record = await engine.store.get_entity("Patient", patient_id)
    assert record is not None and record.version == 2 and record.source != DELETED_SOURCE
    outcomes = [h["outcome"] for h in await engine.store.sync_history("Patient", patient_id)]
    assert outcomes[-1] == "stale"
    current = removal(patient_id)
    current.payload.entity.meta.version = 2
    assert await engine.apply(current)
