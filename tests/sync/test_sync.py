"""The sync engine on real RabbitMQ, against SQLite and PostgreSQL: one identity per patient
across HL7 v2, FHIR and X12; merges that re-point everything and reach every subscriber in
its own format; duplicates, stale updates and echoes that change nothing; ownership
conflicts and double bookings reported."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink, MllpSink
from hub.config import parse_config
from tests.waiting import eventually

pytestmark = pytest.mark.rabbitmq

STEVE_A04 = (
    b"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128090000||ADT^A04^ADT_A01|S-A04-1|P|2.5.1\r"
    b"EVN|A04|20261128090000\r"
    b"PID|1||7700123^^^GOODHEALTH^MR||SMITH^STEVE^A||19430501|M|||"
    b"12 Elm St^^Springfield^IL^62701^USA^H\r"
    b"PV1|1|O\r"
)

STEVE_FHIR = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:example:portal", "value": "P-55"}],
    "name": [{"family": "Smith", "given": ["Steve"]}],
    "birthDate": "1943-05-01",
    "gender": "male",
}

CLAIM_837 = "lfhx12__837_005010X222A2_demo.drug.example10.3.837"  # subscriber = patient Smith Steve


def adt(
    trigger: str, control: str, mrn: str, family: str, given: str, stamp: str, extra: str = ""
) -> bytes:
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|{stamp}||ADT^{trigger}^ADT_A01|{control}|P|"
        f"2.5.1\rEVN|{trigger}|{stamp}\rPID|1||{mrn}^^^GOODHEALTH^MR||{family}^{given}||"
        f"19700101|F{extra}\rPV1|1|N\r"
    ).encode()


def siu(control: str, appt: str, mrn: str, start: str) -> bytes:
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128100000||SIU^S12^SIU_S12|{control}|P|"
        f"2.5.1\rSCH|{appt}^EPIC|{appt}^EPIC|||||ROUTINE^Routine visit|||30|MIN|"
        f"^^30^{start}|||||||||||||Booked\rPID|1||{mrn}^^^GOODHEALTH^MR||Alpha^Ann||"
        f"19700101|F\rRGS|1\rAIP|1||1234567893^Welby^Marcus^^^Dr^^^NPI^L^^^NPI|||{start}|||30|"
        "MIN\r"
    ).encode()


A40 = (
    b"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128110000||ADT^A40^ADT_A39|MRG-1|P|2.5.1\r"
    b"EVN|A40|20261128110000\r"
    b"PID|1||1111^^^GOODHEALTH^MR||Alpha^Ann||19700101|F\r"
    b"MRG|2222^^^GOODHEALTH^MR\r"
)


CONFIG = """
hub:
  namespace: {ns}
  retry_delays: [0.2, 0.5]
  http: {{port: 0}}
systems:
  ehr:
    inbound: [{{type: mllp, port: 0}}]
    identifiers: {{patient: GOODHEALTH}}
  portal:
    inbound: [{{type: fhir, client: portal}}]
  clearinghouse:
    inbound: [{{type: x12-http, client: ch}}]
  billing:
    inbound: [{{type: mllp, port: 0}}]
    outbound: {{type: fhir, url: "{fhir}"}}
    subscribes: ["patient.*", "appointment.*"]
  lab:
    outbound: {{type: mllp, host: 127.0.0.1, port: {lab}, timeout: 5}}
    subscribes: ["patient.*"]
clients:
  portal: {{token_env: T_PORTAL, scopes: ["system/*.cruds"]}}
  ch: {{token_env: T_CH, scopes: [], system: clearinghouse}}
ownership:
  Patient: {{names: ehr}}
"""


@dataclass
class Site:
    hub: Hub
    fhir: FhirSink
    lab: MllpSink

    @property
    def store(self) -> Any:
        assert self.hub.store is not None
        return self.hub.store

    async def send(self, system: str, message: bytes) -> str | None:
        assert self.hub.inbound is not None
        port = self.hub.inbound.find(system).server.port
        async with MllpClient("127.0.0.1", port, timeout=10) as client:
            return parse(await client.send(message))["MSA-1"]

    def url(self, path: str) -> str:
        assert self.hub.http is not None
        return f"http://127.0.0.1:{self.hub.http.port}{path}"

    async def settle(self, seconds: float = 0.6) -> None:
        """Let the queues drain: until the sync engine and the destinations are idle."""
        quiet = 0
        while quiet < 3:
            depths = await self.hub.transport.queue_depths()  # type: ignore[union-attr]
            busy = sum(
                n for q, n in depths.items() if not q.endswith(".parked") and ".retry." not in q
            )
            busy += sum(c.in_flight for c in self.hub.consumers)
            quiet = quiet + 1 if busy == 0 else 0
            await asyncio.sleep(seconds / 3)

    async def patients(self) -> list[dict[str, Any]]:
        rows = await self.store.list_entities("Patient", limit=100)
        return [r.data for r in rows if not r.data.get("merged_into")]


@pytest.fixture
async def site(
    amqp_url: str, namespace: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Site]:
    monkeypatch.setenv("T_PORTAL", "portal-token")
    monkeypatch.setenv("T_CH", "ch-token")
    async with FhirSink() as fhir, MllpSink() as lab:
        text = CONFIG.format(ns=namespace, fhir=fhir.base_url, lab=lab.port)
        cfg = parse_config(text).with_overrides(db_url=db_url, amqp_url=amqp_url)
        async with Hub(cfg) as hub:
            yield Site(hub, fhir, lab)


async def test_one_patient_from_hl7v2_fhir_and_x12(site: Site, corpus: Path):
    assert await site.send("ehr", STEVE_A04) == "AA"
    await site.settle()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            site.url("/fhir/Patient"),
            json=STEVE_FHIR,
            headers={
                "Authorization": "Bearer portal-token",
                "Content-Type": "application/fhir+json",
            },
        ) as resp:
            assert resp.status in (200, 201), await resp.text()
        await site.settle()
        claim = (corpus / "x12" / CLAIM_837).read_bytes()
        async with http.post(
            site.url("/x12/clearinghouse"), data=claim, headers={"Authorization": "Bearer ch-token"}
        ) as resp:
            assert resp.status == 200
            assert b"IK5*A" in await resp.read()
    await site.settle()
    patients = await site.patients()
    assert len(patients) == 1, [p.get("names") for p in patients]
    ids = {
        (i["namespace"], i["value"])
        for i in await site.store.identifiers_of("Patient", patients[0]["id"])
    }
    assert ("GOODHEALTH", "7700123") in ids  # the EHR's MRN
    assert any(v == "P-55" for _, v in ids)  # the portal's id
    assert any(v == "MBRID01234" for _, v in ids)  # the payer's member id
    claims = await site.store.list_entities("Claim")
    assert claims[0].data["subscriber"]["ref"]["id"] == patients[0]["id"]
    # carehub show: found by the payer's member id, it lists every system's identifier and
    # every change with its source
    shown = await carehub("show", "patient", "MBRID01234", "--db-url", site.hub.config.hub.db_url)
    assert f"Patient/{patients[0]['id']}" in shown
    for ident in ("7700123", "P-55", "MBRID01234"):
        assert ident in shown
    assert "from ehr" in shown and "from portal" in shown
    as_json = json.loads(
        await carehub(
            "show", "patient", patients[0]["id"], "--json", "--db-url", site.hub.config.hub.db_url
        )
    )
    assert [v["source"] for v in as_json["versions"]][:1] == ["ehr"]
    assert {d["outcome"] for d in as_json["decisions"]} >= {"applied"}
    missing = await carehub(
        "show", "patient", "NO-SUCH", "--db-url", site.hub.config.hub.db_url, expect=1
    )
    assert "no Patient with id or identifier 'NO-SUCH'" in missing


async def carehub(*args: str, expect: int = 0) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "carehub.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == expect, out.decode()
    return out.decode()


async def test_a_merge_repoints_everything_and_reaches_every_subscriber(site: Site):
    assert await site.send("ehr", adt("A04", "M-1", "1111", "Alpha", "Ann", "20261128090000"))
    assert await site.send("ehr", adt("A04", "M-2", "2222", "Alfa", "Ann", "20261128090100"))
    assert await site.send("ehr", siu("M-3", "APT-9", "2222", "20261201090000")) == "AA"
    await site.settle()
    assert len(await site.patients()) == 2
    assert await site.send("ehr", A40) == "AA"
    await site.settle()
    survivors = await site.patients()
    assert len(survivors) == 1
    survivor = survivors[0]
    # the appointment now points at the survivor
    (appt,) = await site.store.list_entities("Appointment")
    assert appt.data["patient"]["id"] == survivor["id"]
    ids = {i["value"] for i in await site.store.identifiers_of("Patient", survivor["id"])}
    assert {"1111", "2222"} <= ids
    # the HL7 v2 subscriber got an ADT^A40 naming the retired MRN in MRG-1
    await eventually(lambda: any(b"ADT^A40" in m for m in site.lab.received))
    a40 = parse(next(m for m in site.lab.received if b"ADT^A40" in m))
    assert a40["PID-3.1"] == "1111" and a40["MRG-1.1"] == "2222"
    # the FHIR subscriber got one transaction: survivor replaces, retired replaced-by
    await eventually(lambda: site.fhir.transactions)
    entries = [e["resource"] for e in site.fhir.transactions[-1]["entry"]]
    links = {link["type"] for r in entries for link in r.get("link", [])}
    assert links == {"replaces", "replaced-by"}
    assert any(r.get("active") is False for r in entries)
    # the same merge again (a resend under a new control id): done already — nothing new,
    # and never a record that replaces itself
    version = (await site.store.get_entity("Patient", survivor["id"])).version
    transactions = len(site.fhir.transactions)
    assert await site.send("ehr", A40.replace(b"|MRG-1|", b"|MRG-2|")) == "AA"
    await site.settle()
    assert (await site.store.get_entity("Patient", survivor["id"])).version == version
    assert sum(b"ADT^A40" in m for m in site.lab.received) == 1
    assert len(site.fhir.transactions) == transactions
    outcomes = [h["outcome"] for h in await site.store.sync_history("Patient", survivor["id"])]
    assert outcomes[-1] == "unchanged"


async def test_duplicates_and_stale_updates_change_nothing(site: Site):
    first = adt("A08", "D-1", "3333", "Beta", "Bea", "20261128120000")
    assert await site.send("ehr", first) == "AA"
    await site.settle()
    (patient,) = await site.patients()
    before = await site.store.entity_history("Patient", patient["id"])
    sent_before = len(site.lab.received)
    # the same change again under a new control id: identical content
    assert (
        await site.send("ehr", adt("A08", "D-2", "3333", "Beta", "Bea", "20261128120500")) == "AA"
    )
    # an update stamped before the one already applied: stale
    assert (
        await site.send("ehr", adt("A08", "D-3", "3333", "Gamma", "Bea", "20261128110000")) == "AA"
    )
    await site.settle()
    after = await site.store.entity_history("Patient", patient["id"])
    assert len(after) == len(before)
    (now,) = await site.patients()
    assert now["names"][0]["family"] == "Beta"
    assert len(site.lab.received) == sent_before
    outcomes = [h["outcome"] for h in await site.store.sync_history("Patient", patient["id"])]
    assert outcomes[-2:] == ["unchanged", "stale"]


async def test_an_echo_between_two_systems_is_not_propagated(site: Site):
    assert (
        await site.send("ehr", adt("A04", "E-1", "4444", "Delta", "Dee", "20261128130000")) == "AA"
    )
    await eventually(lambda: site.fhir.count("Patient") == 1)
    await eventually(lambda: len(site.lab.received) == 1)
    await site.settle()
    (patient,) = await site.patients()
    version = (await site.store.get_entity("Patient", patient["id"])).version
    deliveries = len(await site.store.list_deliveries())
    # billing tells the hub back exactly what it was told (its own MLLP feed)
    assert (
        await site.send("billing", adt("A08", "B-1", "4444", "Delta", "Dee", "20261128130100"))
        == "AA"
    )
    await site.settle()
    history = await site.store.sync_history("Patient", patient["id"])
    # recognised as an echo — not merely "unchanged", which it would be without the check
    assert [h["outcome"] for h in history][-1] == "echo"
    assert history[-1]["source"] == "billing"
    # nothing published: no delivery to anyone (not even a skipped one back to billing)
    assert len(await site.store.list_deliveries()) == deliveries
    assert len(site.lab.received) == 1  # nothing new for the lab
    assert site.fhir.applied["Patient"] == 1  # and nothing back to billing
    assert (await site.store.get_entity("Patient", patient["id"])).version == version


async def test_a_non_owner_cannot_change_an_owned_field(site: Site):
    assert (
        await site.send("ehr", adt("A04", "O-1", "5555", "Epsilon", "Eve", "20261128140000"))
        == "AA"
    )
    await site.settle()
    # billing renames the patient: names belong to the EHR
    assert (
        await site.send(
            "billing",
            adt("A08", "B-2", "5555", "Renamed", "Eve", "20261128140100", extra="|||9 New Rd"),
        )
        == "AA"
    )
    await site.settle()
    (patient,) = await site.patients()
    assert patient["names"][0]["family"] == "Epsilon"
    history = await site.store.sync_history("Patient", patient["id"])
    assert any(h["outcome"] == "conflict" and "names" in (h["detail"] or "") for h in history)


async def test_a_double_booking_is_reported_with_both_appointments(site: Site):
    assert await site.send("ehr", siu("B-1", "APT-1", "6666", "20261202100000")) == "AA"
    assert await site.send("ehr", siu("B-2", "APT-2", "7777", "20261202101500")) == "AA"
    await site.settle()
    conflicts = [r for r in site.fhir.requests if r.path.endswith("/Appointment")]
    deliveries = await site.store.list_deliveries(destination="billing")
    kinds = [d.event_kind for d in deliveries]
    assert kinds.count("appointment.conflict") == 1, kinds
    assert len(conflicts) >= 2


@pytest.mark.postgres
async def test_per_key_order_holds_with_two_hubs_of_four_lanes(
    amqp_url: str, namespace: str, pg_url: str, monkeypatch: pytest.MonkeyPatch
):
    """Two hub processes' worth of consumers (4 lanes each) on one namespace and one
    PostgreSQL store. 12 patients, 10 successive renames each, sent interleaved: every
    patient ends with its last name, its history holds the renames in the order they were
    made, and the FHIR partner receives each patient's names in that order too."""
    monkeypatch.setenv("T_PORTAL", "portal-token")
    monkeypatch.setenv("T_CH", "ch-token")
    patients, renames = 12, 10
    async with FhirSink() as fhir, MllpSink() as lab:
        text = CONFIG.format(ns=namespace, fhir=fhir.base_url, lab=lab.port)
        cfg = parse_config(text).with_overrides(db_url=pg_url, amqp_url=amqp_url)
        async with Hub(cfg, lanes=4) as first, Hub(cfg, lanes=4) as second:
            site = Site(first, fhir, lab)
            senders = []
            for p in range(patients):

                async def send_all(p: int = p) -> None:
                    for k in range(renames):
                        stamp = f"2026112815{k:02d}00"
                        msg = adt("A08", f"ORD-{p}-{k}", f"9{p:03d}", f"Fam{p}x{k}", "Ord", stamp)
                        assert await site.send("ehr", msg) == "AA"

                senders.append(send_all())
            await asyncio.gather(*senders)
            await site.settle()
            await Site(second, fhir, lab).settle()
            rows = await site.patients()
            assert len(rows) == patients
            for row in rows:
                family = row["names"][0]["family"]
                assert family.endswith(f"x{renames - 1}"), family
                history = await site.store.entity_history("Patient", row["id"])
                applied = [int(h.data["names"][0]["family"].rsplit("x", 1)[1]) for h in history]
                assert applied == sorted(applied), applied
            # what the partner received, per patient, in arrival order: never older after newer
            seen: dict[str, list[int]] = {}
            for req in fhir.requests:
                if req.method == "PUT" and req.resource and "/Patient" in req.path:
                    fam = req.resource["name"][0]["family"]
                    p_, k = fam.removeprefix("Fam").split("x")
                    seen.setdefault(p_, []).append(int(k))
            assert len(seen) == patients
            for p_, ks in seen.items():
                assert ks == sorted(ks), (p_, ks)
                assert ks[-1] == renames - 1
            consumed = [c.handled for c in first.consumers + second.consumers]
            print(f"handled per consumer: {consumed}")


async def test_an_ambiguous_match_goes_to_review_never_merged_silently(site: Site):
    assert await site.send("ehr", adt("A04", "R-1", "8881", "Doe", "Jane", "20261128150000"))
    await site.settle()
    # billing knows a "Janet Doe" born the same day, under its own MRN: family + birth date
    # agree (the review rule), given names do not (so the link rule does not fire)
    billing = adt("A04", "R-2", "B-77", "Doe", "Janet", "20261128150100").replace(
        b"^GOODHEALTH^MR", b"^BILLING^MR"
    )
    assert await site.send("billing", billing) == "AA"
    await site.settle()
    patients = await site.patients()
    assert len(patients) == 2  # not merged
    flagged = [p for p in patients if (p.get("meta") or {}).get("pending_review")]
    assert len(flagged) == 1
    (review,) = await site.store.reviews()
    assert review["record_id"] == flagged[0]["id"]
    (other,) = [p["id"] for p in patients if p["id"] != flagged[0]["id"]]
    assert review["candidates"] == [other]
    db = site.hub.config.hub.db_url
    listed = await carehub("reviews", "--db-url", db)
    assert f"Patient/{flagged[0]['id']} may be {other}" in listed and "1 reviews" in listed
    assert "review" in await carehub("reviews", "close", str(review["id"]), "--db-url", db)
    assert await site.store.reviews() == []
    again = await carehub("reviews", "close", str(review["id"]), "--db-url", db, expect=1)
    assert "no open review" in again


async def test_a_review_rule_key_shared_by_too_many_records_is_passed_over(db_url: str):
    """Eleven Testperson records born the same day: a twelfth is not put to review against
    all of them (a common name and birth date says nothing) — with two it is."""
    from hub.config import MatchingConfig
    from hub.store import SqlStore
    from hub.sync import MAX_CANDIDATES, match_patient
    from hub.sync.identity import demographics, match_key

    rules = MatchingConfig().patient
    record = {
        "names": [{"family": "Testperson", "given": ["Case"]}],
        "birth_date": "1980-01-01",
        "sex": "female",
    }
    key = match_key(1, rules[1], demographics(record))
    assert key is not None
    store = await SqlStore.open(db_url)
    try:
        async with store.unit() as unit:
            for n in range(2):
                await unit.set_match_keys("Patient", f"p{n}", [key])
        few = await match_patient(store, record, rules)
        assert few.linked is None and few.candidates == ("p0", "p1")
        async with store.unit() as unit:
            for n in range(2, MAX_CANDIDATES + 1):
                await unit.set_match_keys("Patient", f"p{n}", [key])
        many = await match_patient(store, record, rules)
        assert many.linked is None and many.candidates == ()
    finally:
        await store.close()


async def test_a_change_applied_but_not_published_before_a_crash_is_published_on_redelivery(
    tmp_path: Path,
):
    """The state was committed and the hub died before publishing the change: the broker
    redelivers the event, the state already holds it — the change is published then (same
    envelope id), not dropped as 'unchanged'."""
    from hub.canonical import Event, EventKind, HumanName, Identifier, Patient, Provenance
    from hub.envelope import Envelope
    from hub.ports import Delivery
    from hub.store import SqlStore
    from hub.sync import SyncEngine
    from queues import build_topology, events_exchange
    from queues.memory import MemoryTransport

    store = await SqlStore.open(f"sqlite:///{tmp_path / 'c.db'}")
    transport = MemoryTransport()
    await transport.start(build_topology("crash", {"billing": ["patient.*"]}))
    try:
        engine = SyncEngine(store, transport, events_exchange=events_exchange("crash"))
        patient = Patient(
            identifiers=[Identifier(value="C-1", system="CLINIC")],
            names=[HumanName(family="Crash", given=["Carl"])],
        )
        env = Envelope(
            source_system="ehr",
            format="hl7v2",
            payload=Event(
                kind=EventKind.PATIENT_REGISTERED,
                entity=patient,
                provenance=Provenance(source_system="ehr", format="hl7v2"),
            ),
        )
        assert len(await engine.apply(env)) == 1  # committed; the publish never happened
        assert (await transport.queue_depths())["crash.dest.billing"] == 0

        class Redelivered:
            envelope = env
            redelivered = True  # the broker's flag after the crash
            attempt = 0

        await engine.handle(cast(Delivery, Redelivered()))
        assert (await transport.queue_depths())["crash.dest.billing"] == 1
        (row,) = await store.list_entities("Patient")
        assert row.version == 1  # no second version
        outcomes = [h["outcome"] for h in await store.sync_history("Patient", row.id)]
        assert outcomes == ["applied", "republished"]
        # a second redelivery (after the mark) changes and sends nothing
        await engine.handle(cast(Delivery, Redelivered()))
        assert (await transport.queue_depths())["crash.dest.billing"] == 1
    finally:
        await transport.close()
        await store.close()
