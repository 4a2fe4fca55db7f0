"""Issue 12, item 4, over real sockets through the whole hub: every ADT trigger A01–A62 gets
an AA (none of them the AR 201 of before), and a trigger that makes no canonical event is
stored — raw bytes, status, zero events — not lost or refused. The A19 query still gets AR
201. Which triggers map to what is checked in tests/mappings/hl7v2/test_hl7map_adt_triggers.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from hub.config import parse_config
from mappings.hl7v2.adt import ADT_EVENTS, ADT_STORED

CONFIG = """
hub: {namespace: adtall}
systems:
  ehr:
    inbound: [{type: mllp, port: 0}]
    identifiers: {patient: GOODHEALTH}
"""


def adt(trigger: str, structure: str) -> bytes:
    body = "PID|1||7700123^^^GOODHEALTH^MR||Smith^Steve||19430501|M\r" + (
        "MRG|7700999^^^GOODHEALTH^MR\r"
        if structure in ("ADT_A30", "ADT_A39", "ADT_A18")
        else "PV1|1|I|4W^412^B^GOODHEALTH||||||||||||||||V-77^^^GOODHEALTH^VN\r"
    )
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128090000||ADT^{trigger}^{structure}|"
        f"T-{trigger}|P|2.5.1\rEVN|{trigger}|20261128090000\r{body}"
    ).encode()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    cfg = parse_config(CONFIG).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
    async with Hub(cfg) as h:
        yield h


async def test_every_adt_trigger_is_acknowledged_and_the_unmapped_ones_are_stored(hub: Hub):
    assert hub.inbound is not None and hub.store is not None
    port = int(hub.inbound.find("ehr").server.port)
    sent: dict[str, bytes] = {}
    async with MllpClient("127.0.0.1", port, timeout=10) as client:
        for trigger, (_, structure) in sorted(ADT_EVENTS.items()):
            raw = adt(trigger, structure)
            ack = parse(await client.send(raw))
            assert (trigger, ack["MSA-1"], ack["MSA-2"]) == (trigger, "AA", f"T-{trigger}")
            sent[trigger] = raw
    rows = {m.raw: m for m in await hub.store.list_messages(direction="in", limit=500)}
    for trigger, raw in sent.items():
        row = rows[raw]  # the raw bytes are kept, whatever the trigger
        assert row.status == "accepted", trigger
        assert row.message_key == f"ADT^{trigger}"
        if trigger in ADT_STORED:
            assert row.event_count == 0, trigger
        elif trigger != "A60":  # this A60 carries no IAM: nothing about allergies
            assert row.event_count and row.event_count > 0, trigger


async def test_the_a19_query_is_still_refused_with_201_and_kept(hub: Hub):
    assert hub.inbound is not None and hub.store is not None
    port = int(hub.inbound.find("ehr").server.port)
    raw = adt("A19", "QRY_A19")
    async with MllpClient("127.0.0.1", port, timeout=10) as client:
        ack = parse(await client.send(raw))
    assert (ack["MSA-1"], ack["ERR-3.1"]) == ("AR", "201")
    (row,) = [m for m in await hub.store.list_messages(direction="in") if m.raw == raw]
    assert row.status == "unsupported"
