"""Results belong to a patient and go through the same identity rules as encounters: an
ORU^R01 whose PID names a known patient by MRN links its results to that patient; one whose
MRN links but whose birth date, sex and names say another person is held for review —
no result is filed on the wrong patient (RabbitMQ, SQLite and PostgreSQL). An ORU with
several PATIENT_RESULT groups checks each group's results against its own PID; an event
whose patient is none or several of the message's patients is held."""

from __future__ import annotations

from pathlib import Path

from hub.canonical import (
    Encounter,
    EntityType,
    Event,
    EventKind,
    HumanName,
    Identifier,
    Patient,
    Provenance,
    Ref,
)
from hub.envelope import Envelope
from hub.pipeline import _subjects
from hub.store import SqlStore
from hub.sync import SyncEngine
from queues import build_topology, events_exchange
from queues.memory import MemoryTransport
from tests.sync.test_identity_safety import a04
from tests.sync.test_sync import Site


def oru(control: str, mrn: str, family: str, given: str, dob: str, sex: str) -> bytes:
    return (
        f"MSH|^~\\&|LIS|LAB|CAREHUB|HUB|20261128100000||ORU^R01^ORU_R01|{control}|P|2.5.1\r"
        f"PID|1||{mrn}^^^GOODHEALTH^MR||{family}^{given}||{dob}|{sex}\r"
        "OBR|1|PL-1^EHR|FL-1^LAB|24331-1^Lipid panel^LN|||20261128080000\r"
        "OBX|1|NM|2093-3^Cholesterol^LN||212|mg/dL^^UCUM|100-199|H|||F\r"
    ).encode()


async def test_results_link_to_their_patient_and_a_mismatch_is_held(site: Site):
    assert await site.send("ehr", a04("R-1", "4001", "Zeta", "Zoe", "19600606", "F")) == "AA"
    await site.settle()
    (patient,) = await site.patients()

    # the same MRN, another person: results and report held, the patient untouched
    wrong = oru("L-1", "4001", "Eta", "Ed", "19990909", "M")
    assert await site.send("ehr", wrong) == "AA"
    await site.settle()
    assert await site.store.list_entities("Observation") == []
    assert await site.store.list_entities("DiagnosticReport") == []
    reviews = await site.store.reviews()
    assert reviews and {r["record_id"] for r in reviews} == {patient["id"]}
    assert all("held" in r["rule"] for r in reviews)
    (after,) = await site.patients()
    assert after["birth_date"] == patient["birth_date"] and after["names"] == patient["names"]

    # the right person: the result and the report point at the one patient record
    right = oru("L-2", "4001", "Zeta", "Zoe", "19600606", "F")
    assert await site.send("ehr", right) == "AA"
    await site.settle()
    (result,) = await site.store.list_entities("Observation")
    (report,) = await site.store.list_entities("DiagnosticReport")
    assert result.data["patient"]["id"] == patient["id"]
    assert report.data["patient"]["id"] == patient["id"]
    assert result.data["value"]["quantity"]["value"] in ("212", 212)
    assert len(await site.patients()) == 1


def oru_two_patients(control: str, mrn: str, family: str, given: str, dob: str, sex: str) -> bytes:
    """An ORU^R01 with two PATIENT_RESULT groups: the given PID, then Olga (MRN 9999)."""
    return (
        f"MSH|^~\\&|LIS|LAB|CAREHUB|HUB|20261128100000||ORU^R01^ORU_R01|{control}|P|2.5.1\r"
        f"PID|1||{mrn}^^^GOODHEALTH^MR||{family}^{given}||{dob}|{sex}\r"
        "OBR|1|PL-1^EHR|FL-1^LAB|24331-1^Lipid panel^LN|||20261128080000\r"
        "OBX|1|NM|2093-3^Cholesterol^LN||212|mg/dL^^UCUM|100-199|H|||F\r"
        "PID|2||9999^^^GOODHEALTH^MR||Other^Olga||19500101|F\r"
        "OBR|1|PL-2^EHR|FL-2^LAB|24331-1^Lipid panel^LN|||20261128080000\r"
        "OBX|1|NM|2093-3^Cholesterol^LN||150|mg/dL^^UCUM|100-199|N|||F\r"
    ).encode()


async def test_each_patient_group_of_an_oru_is_checked_against_its_own_pid(site: Site):
    """Two PATIENT_RESULT groups: the first PID names another person on Zoe's MRN, the
    second a new patient. The first group's results are held (nothing filed on Zoe); the
    second's are filed on the second patient. Then both groups right: each result on its
    own patient."""
    assert await site.send("ehr", a04("R-1", "4001", "Zeta", "Zoe", "19600606", "F")) == "AA"
    await site.settle()
    (zoe,) = await site.patients()

    assert await site.send("ehr", oru_two_patients("L-1", "4001", "Eta", "Ed", "19990909", "M"))
    await site.settle()
    results = await site.store.list_entities("Observation")
    reports = await site.store.list_entities("DiagnosticReport")
    assert not any(r.data["patient"]["id"] == zoe["id"] for r in [*results, *reports])
    (olga,) = [p for p in await site.patients() if p["id"] != zoe["id"]]
    assert [r.data["value"]["quantity"]["value"] for r in results] in (["150"], [150])
    assert {r.data["patient"]["id"] for r in [*results, *reports]} == {olga["id"]}
    reviews = await site.store.reviews()
    assert reviews and {r["record_id"] for r in reviews} == {zoe["id"]}
    (after,) = [p for p in await site.patients() if p["id"] == zoe["id"]]
    assert after["names"] == zoe["names"]

    assert await site.send("ehr", oru_two_patients("L-2", "4001", "Zeta", "Zoe", "19600606", "F"))
    await site.settle()
    by_patient = {
        r.data["patient"]["id"]: r.data["value"]["quantity"]["value"]
        for r in await site.store.list_entities("Observation")
    }
    assert {k: str(v) for k, v in by_patient.items()} == {zoe["id"]: "212", olga["id"]: "150"}


def _person(mrn: str, family: str) -> Event:
    patient = Patient(
        identifiers=[Identifier(value=mrn, system="GOODHEALTH", type="MR")],
        names=[HumanName(family=family, given=["A"])],
        birth_date="1970-01-01",
    )
    return Event(kind=EventKind.PATIENT_UPDATED, entity=patient, provenance=_PROV)


def _visit_of(*mrns: str) -> Event:
    ref = Ref(
        type=EntityType.PATIENT,
        identifiers=[Identifier(value=m, system="GOODHEALTH", type="MR") for m in mrns],
    )
    encounter = Encounter(identifiers=[Identifier(value="V", system="VN")], patient=ref)
    return Event(kind=EventKind.ENCOUNTER_UPDATED, entity=encounter, provenance=_PROV)


_PROV = Provenance(source_system="ehr", format="hl7v2")


def test_each_event_of_a_message_about_several_patients_gets_its_own_subject() -> None:
    """By the identifiers its patient reference carries; none or several: ``unmatched``;
    a message about one patient: every other event gets that one (as before)."""
    events = [
        _person("1", "One"),
        _visit_of("1"),
        _person("2", "Two"),
        _visit_of("2"),
        _visit_of("3"),
        _visit_of("1", "2"),
    ]
    subjects = _subjects(events)
    assert sorted(subjects) == [1, 3, 4, 5]
    assert subjects[1]["names"][0]["family"] == "One"
    assert subjects[3]["names"][0]["family"] == "Two"
    assert subjects[4].get("unmatched") and subjects[5].get("unmatched")
    assert not subjects[4]["identifiers"]
    one = _subjects([_person("1", "One"), _visit_of("9")])
    assert list(one) == [1] and one[1]["names"][0]["family"] == "One"


async def test_an_event_whose_patient_is_unclear_is_held_not_linked_nor_removed(
    tmp_path: Path,
) -> None:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'u.db'}")
    transport = MemoryTransport()
    await transport.start(build_topology("un", {}))
    try:
        engine = SyncEngine(store, transport, events_exchange=events_exchange("un"))
        await engine.apply(
            Envelope(source_system="ehr", format="hl7v2", payload=_person("1", "One"))
        )
        visit = Envelope(
            source_system="ehr",
            format="hl7v2",
            payload=_visit_of("1"),
            subject={"identifiers": [], "unmatched": "names none of the message's patients"},
        )
        assert await engine.apply(visit) == []
        assert await store.list_entities("Encounter") == []
        (review,) = await store.reviews()
        assert "held" in review["rule"] and review["entity_type"] == "Patient"
        # known visit, then its removal in a message whose patient is unclear: kept
        await engine.apply(Envelope(source_system="ehr", format="hl7v2", payload=_visit_of("1")))
        (saved,) = await store.list_entities("Encounter")
        removal = _visit_of("1").model_copy(update={"kind": EventKind.ENCOUNTER_REMOVED})
        unclear = visit.model_copy(update={"payload": removal, "id": "removal-1"})
        assert await engine.apply(unclear) == []
        (kept,) = await store.list_entities("Encounter")
        assert kept.version == saved.version and kept.source != "carehub:deleted"
        assert len(await store.reviews()) == 2
    finally:
        await transport.close()
        await store.close()
