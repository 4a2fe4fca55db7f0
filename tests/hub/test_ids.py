"""Stable ids: the pipeline gives every inbound event its id (``hub.ids``), the same for the
same message however often it is processed, and different for a different message.

Each run is a fresh hub (its own store and broker), as after a crash and a resend: the
stored message ids differ between runs, the event and envelope ids must not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.hl7v2 import parse
from carehub.app.hl7v2 import Hl7v2Inbound
from carehub.app.x12 import X12Inbound
from hub import ids
from hub.canonical import EntityType, Event, EventKind, Patient, Provenance, Ref
from hub.judge import InboundOutcome
from hub.pipeline import InboundFormat, Pipeline
from hub.store import SqlStore
from queues import MemoryTransport, build_topology, ingress_exchange, sync_queue
from tests.e2e.test_adt_to_fhir import A04

NS = "ids"

Format = Callable[[SqlStore], InboundFormat[Any]]


def _hl7(store: SqlStore) -> InboundFormat[Any]:
    return Hl7v2Inbound()


def _x12(store: SqlStore) -> InboundFormat[Any]:
    return X12Inbound(store, partner="payer")


async def _run(db: Path, make_format: Format, raw: bytes, system: str = "ehr") -> list[str]:
    """One message through a fresh pipeline; the ids of the envelopes it published."""
    store = await SqlStore.open(f"sqlite:///{db}")
    transport = MemoryTransport()
    await transport.start(build_topology(NS, {}))
    try:
        pipeline = Pipeline(store, transport, ingress_exchange=ingress_exchange(NS))
        result = await pipeline.receive(make_format(store), raw, system=system)
        assert result.outcome is InboundOutcome.ACCEPTED, result.report.as_list()
        depth = (await transport.queue_depths())[sync_queue(NS)]
        published: list[str] = []
        async with transport.consume(sync_queue(NS)) as deliveries:
            async for delivery in deliveries:
                published.append(delivery.envelope.id)
                await delivery.ack()
                if len(published) == depth:
                    break
    finally:
        await transport.close()
        await store.close()
    # the envelope carries the event's id: one id per event, set in one place
    assert published == [event.id for event in result.events]
    return published


async def test_the_same_hl7_message_gets_the_same_ids_in_every_run(tmp_path: Path) -> None:
    first = await _run(tmp_path / "a.db", _hl7, A04)
    again = await _run(tmp_path / "b.db", _hl7, A04)
    assert first == again
    assert len(set(first)) == len(first) >= 2
    # derived from the sender, MSH-3|MSH-4|MSH-10 and the content digest, by position
    digest = Hl7v2Inbound().identify(parse(A04)).digest
    basis = f"ehr|EPIC|GOODHEALTH|MSG-A04-0001#{digest}"
    assert first == [ids.event_id(basis, i) for i in range(len(first))]


async def test_another_message_under_a_reused_control_id_gets_other_ids(tmp_path: Path) -> None:
    """Same sender and MSH-10, other content: its events must not be skipped downstream as
    already applied (the sync engine's ``processed``, delivery keys)."""
    first = await _run(tmp_path / "a.db", _hl7, A04)
    other = await _run(tmp_path / "b.db", _hl7, A04.replace(b"Okonkwo", b"Adeyemi"))
    assert not set(first) & set(other)
    # the line-ending style is not content: the same ids
    crlf = await _run(tmp_path / "c.db", _hl7, A04.replace(b"\r", b"\r\n"))
    assert crlf == first


async def test_a_different_message_gets_different_ids(tmp_path: Path) -> None:
    first = await _run(tmp_path / "a.db", _hl7, A04)
    other_control = await _run(tmp_path / "b.db", _hl7, A04.replace(b"MSG-A04-0001", b"MSG-2"))
    other_sender = await _run(tmp_path / "c.db", _hl7, A04, system="registration")
    assert not set(first) & set(other_control)
    assert not set(first) & set(other_sender)


async def test_x12_ids_are_stable_and_unique_across_interchanges(
    tmp_path: Path, corpus: Path
) -> None:
    """nodex12__850_fat holds two interchanges with the same control numbers."""
    raw = (corpus / "x12" / "nodex12__850_fat.edi").read_bytes()
    first = await _run(tmp_path / "a.db", _x12, raw, system="supplier")
    again = await _run(tmp_path / "b.db", _x12, raw, system="supplier")
    assert first == again and len(set(first)) == len(first) == 2
    other = await _run(tmp_path / "c.db", _x12, raw, system="another-supplier")
    assert not set(other) & set(first)


def test_without_a_dedup_key_ids_come_from_the_stored_message() -> None:
    assert ids.event_basis("api", None, "m-1") == "m-1"
    assert ids.event_basis("api", "K", "m-1") == "api|K"
    assert ids.event_basis("api", "K", "m-1", "d1") == "api|K#d1"
    assert ids.content_digest(b"x") == ids.content_digest(b"x") != ids.content_digest(b"y")
    assert ids.event_id("m-1", 0) != ids.event_id("m-2", 0)
    assert ids.event_id("m-1", 0) != ids.event_id("m-1", 1)


def _conflict(other: str) -> Event:
    return Event(
        kind=EventKind.APPOINTMENT_CONFLICT,
        entity=Patient(),
        provenance=Provenance(source_system="ehr", format="canonical"),
        related=[Ref(type=EntityType.APPOINTMENT, id=other)],
    )


def test_outgoing_envelope_ids() -> None:
    event = _conflict("appt-2")
    assert ids.outgoing_envelope_id("env-1", event) == ids.outgoing_envelope_id("env-1", event)
    assert ids.outgoing_envelope_id("env-1", event) != ids.outgoing_envelope_id(
        "env-1", _conflict("appt-3")
    )
    plain = event.model_copy(update={"kind": EventKind.APPOINTMENT_BOOKED})
    assert ids.outgoing_envelope_id("env-1", plain) == "env-1"


A04_0 = "16d2-5811-af24-eca8309b6e38"
CONFLICT = "9fbb-5cac-9031-ec65ead6f08c"


@pytest.mark.parametrize(
    ("derived", "pinned"),
    [
        # values of work already on a broker: a changed formula would not recognise a copy
        (lambda: ids.event_id("ehr|EPIC|GOODHEALTH|MSG-A04-0001", 0), f"ca3b9fe0-{A04_0}"),
        (lambda: ids.outgoing_envelope_id("env-1", _conflict("appt-2")), f"2f4d165c-{CONFLICT}"),
        (lambda: ids.delivery_key("env-1", "billing"), "env-1:billing"),
        (lambda: ids.mllp_control_id("env-1", "lab"), "0114cf1f09f697850b5b"),
        (lambda: ids.rendered_control_id("ev-1"), "e8bd59a71e7e467bb66d"),
        (lambda: ids.reference_id("ev-1"), "e8bd59a71e7e467bb66d"),
        (lambda: ids.outbox_file_name("claim.submitted", "env-1"), "claim.submitted-env-1.x12"),
    ],
)  # fmt: skip
def test_the_formulas_are_pinned(derived: Callable[[], str], pinned: str) -> None:
    assert derived() == pinned


def test_the_raw_envelope_id_formula_is_fixed():
    """A raw (pass-through) envelope's id, from the message's event basis: pinned, since
    the MSH-10 of every pass-through delivery is derived from it."""
    basis = "ehr|APP|FAC|MSG1#abc"
    namespace = uuid.UUID("0b5e3c38-2f0e-4a59-8b8e-6f3f2d0c7a11")  # the event ids' namespace
    assert ids.raw_envelope_id(basis) == str(uuid.uuid5(namespace, basis + ":raw"))
    assert ids.raw_envelope_id(basis) == "66da12db-db15-5531-a556-719a5d97ca42"
    # apart from every event id of the same message
    assert ids.raw_envelope_id(basis) not in {ids.event_id(basis, i) for i in range(50)}
