"""A removal is patient safety too: an ADT^A29 (delete person information), an A23 (delete a
visit) or an A60 whose IAM-6 is D removes a record only when the message's PID is the
person that record belongs to. A known MRN under another person's birth date, sex and
names is held for review — nothing tombstoned, nothing published — exactly as an update
naming another person is; the right person's removal is applied. An A60 adding an allergy
under another person is held too (RabbitMQ, SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from tests.sync.test_identity_safety import a01, a04
from tests.sync.test_sync import Site

ZOE = ("Zeta", "Zoe", "19600606", "F")
ED = ("Eta", "Ed", "19990909", "M")


def a29(control: str, mrn: str, family: str, given: str, dob: str, sex: str) -> bytes:
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128100000||ADT^A29^ADT_A21|{control}|P|"
        f"2.5.1\rEVN|A29|20261128100000\rPID|1||{mrn}^^^GOODHEALTH^MR||{family}^{given}||"
        f"{dob}|{sex}\rPV1|1|N\r"
    ).encode()


def a23(control: str, mrn: str, family: str, given: str, dob: str, sex: str, visit: str) -> bytes:
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128100000||ADT^A23^ADT_A21|{control}|P|"
        f"2.5.1\rEVN|A23|20261128100000\rPID|1||{mrn}^^^GOODHEALTH^MR||{family}^{given}||"
        f"{dob}|{sex}\rPV1|1|I|W^1^1{'|' * 16}{visit}\r"
    ).encode()


def a60(control: str, mrn: str, who: tuple[str, ...], action: str = "A") -> bytes:
    family, given, dob, sex = who
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128100000||ADT^A60^ADT_A60|{control}|P|"
        f"2.5.1\rEVN|A60|20261128100000\rPID|1||{mrn}^^^GOODHEALTH^MR||{family}^{given}||"
        f"{dob}|{sex}\rIAM|1|DA|PCN^Penicillin^L|SV|HIVES|{action}\r"
    ).encode()


async def _visits(site: Site, number: str) -> list[Any]:
    rows = await site.store.list_entities("Encounter")
    return [r for r in rows if any(i["value"] == number for i in r.data.get("identifiers", []))]


async def _held_reviews(site: Site, record_id: str) -> list[dict[str, object]]:
    reviews = await site.store.reviews()
    assert reviews and {r["record_id"] for r in reviews} == {record_id}
    assert all("held" in str(r["rule"]) for r in reviews)
    return list(reviews)


async def test_an_a29_naming_another_person_on_a_known_mrn_removes_nothing(site: Site):
    assert await site.send("ehr", a04("R-1", "4001", *ZOE)) == "AA"
    await site.settle()
    (zoe,) = await site.patients()
    sent = sum(site.fhir.applied.values())
    assert await site.send("ehr", a29("D-1", "4001", *ED)) == "AA"
    await site.settle()
    (after,) = await site.patients()
    assert after["id"] == zoe["id"] and after["names"] == zoe["names"]
    assert after["meta"]["source"] != "carehub:deleted"
    assert sum(site.fhir.applied.values()) == sent  # no removal published
    await _held_reviews(site, zoe["id"])

    # the right person (one name corrected still is): removed
    assert await site.send("ehr", a29("D-2", "4001", "Zeta", "Zoë", "19600606", "F")) == "AA"
    await site.settle()
    (gone,) = await site.store.list_entities("Patient")
    assert gone.source == "carehub:deleted"


async def test_an_a23_removes_a_visit_only_for_the_person_it_belongs_to(site: Site):
    assert await site.send("ehr", a01("V-1", "4101", *ZOE, "VIS-1")) == "AA"
    assert await site.send("ehr", a04("V-2", "4102", "Other", "Olga", "19500101", "F")) == "AA"
    await site.settle()
    (visit,) = await _visits(site, "VIS-1")
    zoe_id = visit.data["patient"]["id"]

    # the same MRN under another person, and another known patient's MRN: both held
    assert await site.send("ehr", a23("V-3", "4101", *ED, "VIS-1")) == "AA"
    assert await site.send("ehr", a23("V-4", "4102", "Other", "Olga", "19500101", "F", "VIS-1"))
    await site.settle()
    (still,) = await _visits(site, "VIS-1")
    assert still.source != "carehub:deleted" and still.version == visit.version
    reviews = await site.store.reviews()
    assert len(reviews) >= 2 and all("held" in str(r["rule"]) for r in reviews)
    assert zoe_id in {r["record_id"] for r in reviews}

    # the visit's own patient: removed
    assert await site.send("ehr", a23("V-5", "4101", *ZOE, "VIS-1")) == "AA"
    await site.settle()
    gone = await site.store.get_entity("Encounter", visit.id)
    assert gone is not None and gone.source == "carehub:deleted"


async def test_a_wrong_person_a60_neither_adds_nor_deletes_an_allergy(site: Site):
    assert await site.send("ehr", a04("R-1", "4001", *ZOE)) == "AA"
    await site.settle()
    (zoe,) = await site.patients()

    # another person on Zoe's MRN adds an allergy: held, nothing filed on Zoe
    assert await site.send("ehr", a60("AL-1", "4001", ED)) == "AA"
    await site.settle()
    assert await site.store.list_entities("Allergy") == []
    await _held_reviews(site, zoe["id"])

    # Zoe's own A60 files it on her record
    assert await site.send("ehr", a60("AL-2", "4001", ZOE)) == "AA"
    await site.settle()
    (allergy,) = await site.store.list_entities("Allergy")
    assert allergy.data["patient"]["id"] == zoe["id"]

    # another person's IAM-6 D on Zoe's MRN: held, her allergy kept
    assert await site.send("ehr", a60("AL-3", "4001", ED, "D")) == "AA"
    await site.settle()
    (kept,) = await site.store.list_entities("Allergy")
    assert kept.source != "carehub:deleted" and kept.version == allergy.version

    # Zoe's own IAM-6 D removes it
    assert await site.send("ehr", a60("AL-4", "4001", ZOE, "D")) == "AA"
    await site.settle()
    (gone,) = await site.store.list_entities("Allergy")
    assert gone.source == "carehub:deleted"
    (after,) = await site.patients()
    assert after["names"] == zoe["names"]
