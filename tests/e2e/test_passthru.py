"""Pass-through routing end to end (``hub.passthru``): real MLLP in, the hub on the embedded
transport (SQLite and PostgreSQL) or on RabbitMQ, real MLLP sinks out.

An ORU^R01 and an ORM^O01 (types the canonical model does not map here) from the corpus
reach the systems subscribed to their raw keys with MSH-5/6 set for each and MSH-10 derived
per destination, every other byte as sent; nobody else gets them, the sender never gets its
own back, a type nobody subscribes to is still refused AR 200, a mapped type goes both ways
(canonical events and the raw message), and a retry after a lost ACK keeps MSH-10.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.hl7v2 import MllpServer, parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import MllpSink
from conformance.hl7v2 import render_ack
from hub.config import HubConfig, parse_config
from hub.findings import Report
from hub.ids import mllp_control_id
from tests.e2e.test_adt_to_fhir import A04
from tests.waiting import eventually

ORU = "hl7v2/fhirconverter__ORU-R01-01.hl7"  # LF-separated, enhanced mode (MSH-15 AL)
ORM = "hl7v2/fhirconverter__ORM-O01-01.hl7"  # starts with a UTF-8 BOM, v2.6
ORM_REPS = "hl7v2/mirth__test-hl7-repetitions-input.txt"  # CRLF, OBX repetitions

#: a message of our own: other delimiters (MSH-1 #, MSH-2 :!?*), a Z-segment, repetitions,
#: escapes and CR-ended segments — all must arrive as sent
ODD = (
    b"MSH#:!?*#LABSYS#LABFAC#HUB#HUBFAC#20240101120000##ORU:R01:ORU_R01#ODD-0001#P#2.5.1\r"
    b"PID#1##P77:::LAB:MR!P78:::LAB:PI##Doe:Jane##19700101#F\r"
    b"OBR#1##F1#GLU:Glucose:L\r"
    b"OBX#1#NM#GLU:Glucose:L##5.6#mmol/L#3.9-6.1#N!H###F\r"
    b"ZLB#vendor?F?field#x*y!z\r"
)


def _config(sinks: dict[str, int], *, ns: str = "passthru", sender_sink: int | None = None) -> str:
    """ehr sends (and, with ``sender_sink``, itself subscribes to every raw message);
    lis takes raw results and orders; archive every raw message; adtonly raw ADT only."""
    ehr_out = (
        f"""
    outbound: {{type: mllp, host: 127.0.0.1, port: {sender_sink}, timeout: 5}}
    subscribes: ["hl7v2.#"]"""
        if sender_sink
        else ""
    )
    return f"""
hub:
  namespace: {ns}
  retry_delays: [0.2, 0.4]
systems:
  ehr:
    inbound: [{{type: mllp, port: 0}}]
    identifiers: {{patient: GOODHEALTH}}{ehr_out}
  lis:
    outbound: {{type: mllp, host: 127.0.0.1, port: {sinks["lis"]}, timeout: 5,
               receiving_application: LIS, receiving_facility: LAB}}
    subscribes: ["hl7v2.ORU.*", "hl7v2.ORM.O01"]
  archive:
    outbound: {{type: mllp, host: 127.0.0.1, port: {sinks["archive"]}, timeout: 5,
               receiving_application: "ARCH^1.2.3^ISO", passthrough_sender: hub}}
    subscribes: ["hl7v2.#"]
  adtonly:
    outbound: {{type: mllp, host: 127.0.0.1, port: {sinks["adtonly"]}, timeout: 5}}
    subscribes: ["hl7v2.ADT.*", "#"]
"""


def _msh(raw: bytes) -> list[str]:
    """MSH split on its field separator (item k is MSH-(k+1) for k ≥ 1)."""
    start = raw.find(b"MSH")
    line = raw[start:].split(b"\r", 1)[0].split(b"\n", 1)[0].decode("utf-8")
    return line.split(line[3])


def _after_msh(raw: bytes) -> bytes:
    """Everything after the MSH segment, terminator included."""
    start = raw.find(b"MSH")
    ends = [i for i in (raw.find(b"\r", start), raw.find(b"\n", start)) if i >= 0]
    return raw[min(ends) :] if ends else b""


def _same_but(sent: bytes, got: bytes, fields: set[int]) -> None:
    """``got`` is ``sent`` but for MSH fields ``fields``, byte for byte."""
    assert got[: got.find(b"MSH")] == sent[: sent.find(b"MSH")]
    assert _after_msh(got) == _after_msh(sent)
    a, b = _msh(sent), _msh(got)
    width = max(len(a), len(b))
    a, b = a + [""] * (width - len(a)), b + [""] * (width - len(b))
    differs = {k + 1 for k in range(1, width) if a[k] != b[k]}
    assert differs <= fields, differs


async def _send(hub: Hub, message: bytes) -> str | None:
    assert hub.inbound is not None
    client = MllpClient("127.0.0.1", hub.inbound.find("ehr").server.port, timeout=10)
    try:
        return parse(await client.send(message))["MSA-1"]
    finally:
        await client.close()


@dataclass
class _Sinks:
    lis: MllpSink
    archive: MllpSink
    adtonly: MllpSink
    ehr: MllpSink

    def ports(self) -> dict[str, int]:
        return {"lis": self.lis.port, "archive": self.archive.port, "adtonly": self.adtonly.port}


@pytest.fixture
async def sinks() -> AsyncIterator[_Sinks]:
    async with MllpSink() as lis, MllpSink() as archive, MllpSink() as adtonly, MllpSink() as ehr:
        yield _Sinks(lis, archive, adtonly, ehr)


def _hub_config(
    sinks: _Sinks, db_url: str, *, ns: str = "passthru", amqp: str | None = None
) -> HubConfig:
    text = _config(sinks.ports(), sender_sink=sinks.ehr.port, ns=ns)
    return parse_config(text).with_overrides(db_url=db_url, amqp_url=amqp)


async def _routes_results_and_orders(hub: Hub, sinks: _Sinks, corpus: Path) -> None:
    oru, orm, odd = (corpus / ORU).read_bytes(), (corpus / ORM).read_bytes(), ODD
    reps = (corpus / ORM_REPS).read_bytes()
    assert await _send(hub, oru) == "CA"  # enhanced mode: the commit accept
    assert await _send(hub, orm) == "AA"
    assert await _send(hub, odd) == "AA"
    assert await _send(hub, reps) == "CA"  # MSH-15 AL too
    await eventually(lambda: len(sinks.lis.received) >= 4 and len(sinks.archive.received) >= 4)
    assert hub.store is not None

    async def all_recorded() -> bool:
        rows = await hub.store.list_deliveries()
        return len(rows) >= 12  # 4 messages × (lis, archive, ehr skipped)

    await eventually(all_recorded)
    await asyncio.sleep(0.3)  # anything misrouted would have arrived by now

    # lis: MSH-5/6 its own, MSH-10 per destination, every other byte as sent, in order
    for sent, got in zip((oru, orm, odd, reps), sinks.lis.received, strict=True):
        _same_but(sent, got, {5, 6, 10})
        msh = _msh(got)
        comp = msh[1][0]
        assert msh[4] == "LIS" and msh[5] == "LAB"
        assert msh[9] != _msh(sent)[9] and len(msh[9]) == 20
        assert comp in ("^", ":")
    # archive: the hub as sender (passthrough_sender: hub), its application as components
    # written with the message's own separators
    for sent, got in zip((oru, orm, odd, reps), sinks.archive.received, strict=True):
        _same_but(sent, got, {3, 4, 5, 6, 10})
        msh = _msh(got)
        comp = msh[1][0]
        assert msh[2] == "CAREHUB" and msh[3] == ""
        assert msh[4] == f"ARCH{comp}1.2.3{comp}ISO"
    # MSH-10 is derived from the raw envelope id and the destination: one per destination
    lis_ids = [_msh(m)[9] for m in sinks.lis.received]
    arch_ids = [_msh(m)[9] for m in sinks.archive.received]
    assert not set(lis_ids) & set(arch_ids)
    # nothing raw to a system not subscribed to these types (its canonical "#" takes no raw
    # message; whatever the canonical model makes of a result is the hub's own rendering),
    # nothing back to the sender
    sent_tails = {_after_msh(m) for m in (oru, orm, odd, reps)}
    assert not [m for m in sinks.adtonly.received if _after_msh(m) in sent_tails]
    assert all(_msh(m)[2] == "CAREHUB" for m in sinks.adtonly.received)
    assert sinks.ehr.received == []
    rows = await hub.store.list_deliveries()
    by_dest: dict[str, set[str]] = {}
    for row in rows:
        by_dest.setdefault(row.destination, set()).add(row.status)
    assert by_dest["lis"] == {"delivered"} and by_dest["archive"] == {"delivered"}
    assert by_dest["ehr"] == {"skipped"}  # the echo rule: its own messages not sent back
    assert not [r for r in rows if r.destination == "adtonly" and r.event_kind.startswith("hl7v2.")]
    kinds = {r.event_kind for r in rows if r.destination == "lis"}
    assert kinds == {"hl7v2.ORU.R01", "hl7v2.ORM.O01"}
    messages = await hub.store.list_messages(direction="in")
    assert {m.status for m in messages} == {"accepted"}


async def test_raw_results_and_orders_reach_their_subscribers_as_sent(
    sinks: _Sinks, db_url: str, corpus: Path
):
    async with Hub(_hub_config(sinks, db_url)) as hub:
        await _routes_results_and_orders(hub, sinks, corpus)


async def test_raw_routing_on_rabbitmq(
    sinks: _Sinks, amqp_url: str, namespace: str, tmp_path: Path, corpus: Path
):
    cfg = _hub_config(sinks, f"sqlite:///{tmp_path / 'h.db'}", ns=namespace, amqp=amqp_url)
    async with Hub(cfg) as hub:
        await _routes_results_and_orders(hub, sinks, corpus)


async def test_a_type_nobody_subscribes_to_raw_is_still_refused(tmp_path: Path, corpus: Path):
    async with MllpSink() as lis, MllpSink() as archive, MllpSink() as adtonly:
        ports = {"lis": lis.port, "archive": archive.port, "adtonly": adtonly.port}
        text = _config(ports).replace('["hl7v2.#"]', '["hl7v2.ADT.A08"]')
        text = text.replace('"hl7v2.ORU.*", "hl7v2.ORM.O01"', '"hl7v2.ORU.*"')
        cfg = parse_config(text).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
        async with Hub(cfg) as hub:
            orm = (corpus / ORM).read_bytes()
            assert hub.inbound is not None
            client = MllpClient("127.0.0.1", hub.inbound.find("ehr").server.port, timeout=10)
            try:
                ack = parse(await client.send(orm))
            finally:
                await client.close()
            await asyncio.sleep(0.3)
            assert hub.store is not None
            rows = await hub.store.list_deliveries()
            (message,) = await hub.store.list_messages(direction="in")
    assert ack["MSA-1"] == "AR" and ack["ERR-3.1"] == "200"
    assert message.status == "unsupported"
    assert lis.received == archive.received == adtonly.received == [] and rows == []


async def test_a_mapped_type_goes_both_ways(sinks: _Sinks, tmp_path: Path):
    """An ADT^A04 is mapped (canonical events to ``#``) and passed through raw to those
    subscribed to its raw key — both, independently."""
    async with Hub(_hub_config(sinks, f"sqlite:///{tmp_path / 'h.db'}")) as hub:
        assert await _send(hub, A04) == "AA"
        # adtonly: the canonical patient rendered as ADT (from "#") and the raw A04
        await eventually(lambda: len(sinks.adtonly.received) >= 2)
        await eventually(lambda: len(sinks.archive.received) >= 1)
        await asyncio.sleep(0.3)
    raw = [
        m for m in sinks.adtonly.received if _msh(m)[9] != "" and _after_msh(m) == _after_msh(A04)
    ]
    assert len(raw) == 1
    _same_but(A04, raw[0], {5, 6, 10})
    rendered = [m for m in sinks.adtonly.received if m not in raw]
    assert rendered and all(_msh(m)[2] == "CAREHUB" for m in rendered)
    assert len(sinks.archive.received) == 1 and sinks.lis.received == []


@dataclass
class _LosesFirstAck:
    """A partner that takes every message but whose first ACK never arrives: the hub must
    resend, with the same MSH-10, and the partner can tell the copy."""

    port: int = 0
    received: list[bytes] = field(default_factory=list)
    _server: Any = None

    async def __aenter__(self) -> _LosesFirstAck:
        self._server = MllpServer(self._handle, "127.0.0.1", 0)
        await self._server.start()
        self.port = self._server.port
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.close()

    async def _handle(self, frame: bytes, peer: Any) -> bytes | list[bytes]:
        self.received.append(frame)
        if len(self.received) == 1:
            return []  # the ACK is lost
        msg = parse(frame)
        return render_ack(msg, frame, Report())


async def test_a_retry_after_a_lost_ack_keeps_msh10(tmp_path: Path, corpus: Path):
    async with _LosesFirstAck() as lis, MllpSink() as archive, MllpSink() as adtonly:
        ports = {"lis": lis.port, "archive": archive.port, "adtonly": adtonly.port}
        text = _config(ports).replace(
            "timeout: 5,\n               receiving_application: LIS",
            "timeout: 0.5,\n               receiving_application: LIS",
        )
        cfg = parse_config(text).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
        async with Hub(cfg) as hub:
            orm = (corpus / ORM).read_bytes()
            assert await _send(hub, orm) == "AA"
            assert hub.store is not None

            async def delivered() -> bool:
                rows = await hub.store.list_deliveries(destination="lis", status="delivered")
                return bool(rows)

            await eventually(delivered, 20)
            (row,) = await hub.store.list_deliveries(destination="lis")
    assert len(lis.received) >= 2
    ids = {_msh(m)[9] for m in lis.received}
    assert len(ids) == 1  # every attempt carried the same control id
    (control,) = ids
    assert lis.received[0] == lis.received[-1]  # the very same bytes
    assert control == mllp_control_id(row.envelope_id, "lis")
    assert row.attempts >= 1


async def test_a_partners_ae_parks_the_raw_delivery_with_its_text(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
):
    """The ORM's PID-3.1 is refused by the lab's rules: parked at once (permanent), on the
    raw queue's own parking queue, with the partner's text; the archive still gets it; the
    admin endpoints list and replay it."""
    monkeypatch.setenv("T_PT_OPS", "pt-ops-token")
    async with (
        MllpSink(reject_values={"PATID1234"}) as lis,
        MllpSink() as archive,
        MllpSink() as adtonly,
    ):
        ports = {"lis": lis.port, "archive": archive.port, "adtonly": adtonly.port}
        text = _config(ports, ns="ptpark").replace("hub:\n", "hub:\n  http: {port: 0}\n", 1)
        text += 'clients:\n  ops: {token_env: T_PT_OPS, scopes: ["carehub/admin"]}\n'
        cfg = parse_config(text).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
        async with Hub(cfg) as hub:
            assert await _send(hub, (corpus / ORM).read_bytes()) == "AA"
            assert hub.store is not None and hub.http is not None

            async def parked() -> list[Any]:
                return await hub.store.list_deliveries(destination="lis", status="parked")

            await eventually(parked)
            (row,) = await parked()
            await eventually(lambda: len(archive.received) == 1)
            assert hub.transport is not None
            depths = await hub.transport.queue_depths()
            admin = f"http://127.0.0.1:{hub.http.port}/admin/parked/lis"
            ops = {"Authorization": "Bearer pt-ops-token"}
            async with aiohttp.ClientSession(headers=ops) as http:
                async with http.get(admin) as resp:
                    items = await resp.json()
                async with http.post(f"{admin}/replay") as resp:
                    replayed = await resp.json()
            await eventually(lambda: len(lis.received) == 2)  # replayed, refused again
    assert "refused by the partner's rules" in (row.detail or "")
    assert row.event_kind == "hl7v2.ORM.O01"
    assert depths["ptpark.dest.lis.raw.parked"] == 1 and lis.applied == []
    assert len(items) == 1 and items[0]["envelope_id"] == row.envelope_id
    assert items[0]["event"] == "hl7v2.ORM.O01" and "refused" in items[0]["reason"]
    assert replayed == {"replayed": 1}
    assert _msh(lis.received[0])[9] == _msh(lis.received[1])[9]  # the same control id


@pytest.mark.parametrize("bom", ["utf-16-le", "utf-16-be"])
async def test_a_utf16_message_is_passed_through_in_utf16(sinks: _Sinks, tmp_path: Path, bom: str):
    """A UTF-16 message (byte order mark) accepted inbound goes on as UTF-16 in the same byte
    order, behind the same mark, with only its MSH fields rewritten — never parked after AA
    because the rewrite looked for the ASCII bytes ``MSH``."""
    text = ODD.decode().replace("ODD-0001", f"U16-{bom[-2:]}") + "ZLB#caf\u00e9 \u00fc\u00df\r"
    sent = "\ufeff".encode(bom) + text.encode(bom)
    async with Hub(_hub_config(sinks, f"sqlite:///{tmp_path / 'u16.db'}")) as hub:
        assert await _send(hub, sent) == "AA"
        await eventually(lambda: len(sinks.lis.received) >= 1 and len(sinks.archive.received) >= 1)
        assert hub.store is not None
        rows = await hub.store.list_deliveries()
    assert {r.destination: r.status for r in rows if r.destination in ("lis", "archive")} == {
        "lis": "delivered",
        "archive": "delivered",
    }
    for got, changed in (
        (sinks.lis.received[0], {5, 6, 10}),
        (sinks.archive.received[0], {3, 4, 5, 6, 10}),
    ):
        assert got[:2] == sent[:2]  # the same byte order mark
        got_text, sent_text = got[2:].decode(bom), sent[2:].decode(bom)
        assert got_text.split("\r", 1)[1] == sent_text.split("\r", 1)[1]  # the rest as sent
        a, b = sent_text.split("\r", 1)[0].split("#"), got_text.split("\r", 1)[0].split("#")
        assert {
            k + 1 for k in range(1, max(len(a), len(b))) if a[k : k + 1] != b[k : k + 1]
        } == changed
    assert sinks.lis.received[0][2:].decode(bom).split("#")[4] == "LIS"
