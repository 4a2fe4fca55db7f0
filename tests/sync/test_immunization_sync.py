"""Immunizations in the sync engine, on RabbitMQ with SQLite and PostgreSQL (the ``site`` of
``test_sync``): a VXU registers its patient and links its doses to that patient; a resent
dose under the same ORC-3 is one record; RXA-21 D turns the record entered-in-error (a new
version, not a new dose); and a VXU whose PID names another person on a known MRN holds its
immunizations with the patient event, as an ADT's encounter is held."""

from __future__ import annotations

from tests.sync.test_identity_safety import a04
from tests.sync.test_sync import Site


def vxu(
    control: str,
    mrn: str,
    family: str,
    given: str,
    dob: str,
    sex: str,
    *,
    filler: str = "IZ-1",
    action: str = "A",
    stamp: str = "20261128100000",
) -> bytes:
    """A VXU^V04: PID-3 MRN (GOODHEALTH), PID-5/7/8; one ORDER group with ORC-3 ``filler``
    and RXA-21 ``action``."""
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|{stamp}||VXU^V04^VXU_V04|{control}|P|2.5.1\r"
        f"PID|1||{mrn}^^^GOODHEALTH^MR||{family}^{given}||{dob}|{sex}\r"
        f"ORC|RE||{filler}^GOODHEALTH-IZ\r"
        f"RXA|0|1|20261128||140^Influenza^CVX|0.5|mL^mL^UCUM||00^New record^NIP001"
        f"||||||LOT-1||SKB^GSK^MVX|||CP|{action}\r"
    ).encode()


async def _immunizations(site: Site) -> list[dict]:
    return [r.data for r in await site.store.list_entities("Immunization")]


async def test_a_vxu_registers_its_patient_and_links_the_dose_to_it(site: Site):
    assert await site.send("ehr", vxu("V-1", "6001", "Iota", "Ida", "20240101", "F")) == "AA"
    await site.settle()
    (patient,) = await site.patients()
    assert patient["names"][0]["family"] == "Iota"
    (shot,) = await _immunizations(site)
    assert shot["patient"]["id"] == patient["id"]
    assert shot["status"] == "completed" and shot["lot_number"] == "LOT-1"

    # the same dose resent under a new MSH-10: still one record
    assert await site.send("ehr", vxu("V-2", "6001", "Iota", "Ida", "20240101", "F")) == "AA"
    await site.settle()
    assert len(await _immunizations(site)) == 1

    # RXA-21 D: the record becomes entered-in-error, a new version of the same record
    retract = vxu("V-3", "6001", "Iota", "Ida", "20240101", "F", action="D", stamp="20261128110000")
    assert await site.send("ehr", retract) == "AA"
    await site.settle()
    (after,) = await _immunizations(site)
    assert after["id"] == shot["id"] and after["status"] == "entered-in-error"
    history = await site.store.sync_history("Immunization", shot["id"])
    assert history[-1]["event"] == "immunization.entered_in_error"
    assert history[-1]["outcome"] == "applied"


async def test_a_vxu_naming_another_person_on_a_known_mrn_holds_its_doses(site: Site):
    assert await site.send("ehr", a04("W-1", "6101", "Kappa", "Kim", "19600606", "F")) == "AA"
    await site.settle()
    (before,) = await site.patients()
    wrong = vxu("V-9", "6101", "Lambda", "Leo", "20200202", "M", filler="IZ-9")
    assert await site.send("ehr", wrong) == "AA"  # taken and kept: the doubt is the hub's
    await site.settle()
    assert await _immunizations(site) == []
    (after,) = await site.patients()
    assert after["names"] == before["names"]
    reviews = await site.store.reviews()
    assert {r["record_id"] for r in reviews} == {before["id"]}
    # the patient event and its immunization are each held with a review
    assert len(reviews) == 2 and all("held" in r["rule"] for r in reviews)
