"""Results belong to a patient and go through the same identity rules as encounters: an
ORU^R01 whose PID names a known patient by MRN links its results to that patient; one whose
MRN links but whose birth date, sex and names say another person is held for review —
no result is filed on the wrong patient (RabbitMQ, SQLite and PostgreSQL)."""

from __future__ import annotations

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
