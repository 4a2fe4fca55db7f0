"""Issue 12, item 4: ADT^A47 change patient identifier list, end to end on RabbitMQ with
SQLite and PostgreSQL (the ``site`` of ``test_sync``). Identity is patient safety: the
record the prior identifier names takes the new one — unless the new identifier is another
patient's, or the message's demographics say another person, or the prior identifiers name
several records: then nothing is applied and a review is opened. A prior identifier the hub
does not know is applied as a plain update under the new identifiers (nothing to change).
After a change the prior identifier is retired: kept on the record with its period ended,
no longer linking, so a late message under it is decided like any unknown number. The
identity invariant (``tests/invariants.py``) is checked after every test (conftest)."""

from __future__ import annotations

import pytest

from tests.sync.test_identity_safety import a04
from tests.sync.test_sync import Site

pytestmark = pytest.mark.rabbitmq


def a47(
    control: str,
    new: str,
    prior: str,
    family: str = "Rivera",
    given: str = "Ana",
    dob: str = "19750214",
    sex: str = "F",
) -> bytes:
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128100000||ADT^A47^ADT_A30|{control}|P|"
        f"2.5.1\rEVN|A47|20261128100000\rPID|1||{new}^^^GOODHEALTH^MR||{family}^{given}||{dob}|"
        f"{sex}\rMRG|{prior}^^^GOODHEALTH^MR\r"
    ).encode()


async def _ids(site: Site, value: str) -> list[str]:
    return sorted(await site.store.find_by_identifier("Patient", value))


async def test_the_record_the_prior_identifier_names_takes_the_new_one(site: Site):
    assert await site.send("ehr", a04("C-1", "5001", "Rivera", "Ana", "19750214", "F")) == "AA"
    await site.settle()
    (before,) = await site.patients()
    assert await site.send("ehr", a47("C-2", "5002", "5001")) == "AA"
    await site.settle()
    (after,) = await site.patients()
    assert after["id"] == before["id"]
    # the prior number stays on the record, retired (its period ends), and no longer links
    kept = {i["value"]: i for i in after["identifiers"]}
    assert set(kept) == {"5001", "5002"}
    assert kept["5001"].get("period", {}).get("end") and not kept["5002"].get("period")
    assert await _ids(site, "5002") == [before["id"]]
    assert await _ids(site, "5001") == []
    assert await site.store.reviews() == []
    # the lab (MLLP, patient.*) hears of it as an ADT^A47 with the prior id in MRG-1
    a47s = [m for m in site.lab.received if b"ADT^A47" in m]
    assert len(a47s) == 1 and b"MRG|5001^^^GOODHEALTH" in a47s[0]


async def test_a_late_message_under_the_retired_number_does_not_silently_match(site: Site):
    """After the A47 the old number is unknown: a late A08 under it is decided like any
    unknown MRN (the demographic rules), never linked to the record by the old number; an
    A08 naming another person under it is a new patient, not a change of the record."""
    assert await site.send("ehr", a04("L-1", "5101", "Rivera", "Ana", "19750214", "F")) == "AA"
    await site.settle()
    (ana,) = await site.patients()
    assert await site.send("ehr", a47("L-2", "5102", "5101")) == "AA"
    await site.settle()
    late = a04("L-3", "5101", "Okafor", "Ben", "19600101", "M", trigger="A08")
    assert await site.send("ehr", late) == "AA"
    await site.settle()
    (after,) = [p for p in await site.patients() if p["id"] == ana["id"]]
    assert after["names"] == ana["names"] and after["birth_date"] == ana["birth_date"]
    (ben,) = [p for p in await site.patients() if p["id"] != ana["id"]]
    assert await _ids(site, "5101") == [ben["id"]]
    assert await _ids(site, "5102") == [ana["id"]]


async def test_a_new_identifier_that_is_another_patients_is_held_for_review(site: Site):
    assert await site.send("ehr", a04("H-1", "6001", "Rivera", "Ana", "19750214", "F")) == "AA"
    assert await site.send("ehr", a04("H-2", "6002", "Okafor", "Ben", "19600101", "M")) == "AA"
    await site.settle()
    (ana,) = await _ids(site, "6001")
    (ben,) = await _ids(site, "6002")
    versions = [(await site.store.get_entity("Patient", p)).version for p in (ana, ben)]
    sent = len(site.lab.received)
    # the sender says Ana's number becomes 6002 — which is Ben's: a merge, or a mistake
    assert await site.send("ehr", a47("H-3", "6002", "6001")) == "AA"
    await site.settle()
    assert await _ids(site, "6002") == [ben] and await _ids(site, "6001") == [ana]
    after = [(await site.store.get_entity("Patient", p)).version for p in (ana, ben)]
    assert after == versions
    assert len(site.lab.received) == sent  # nothing published
    (review,) = await site.store.reviews()
    assert review["record_id"] == ana and "another patient" in review["rule"]


async def test_a_change_whose_demographics_say_another_person_is_held(site: Site):
    assert await site.send("ehr", a04("D-1", "7001", "Rivera", "Ana", "19750214", "F")) == "AA"
    await site.settle()
    (ana,) = await _ids(site, "7001")
    wrong = a47("D-2", "7002", "7001", family="Zeta", given="Zed", dob="19900909", sex="M")
    assert await site.send("ehr", wrong) == "AA"
    await site.settle()
    assert await _ids(site, "7002") == []  # not learnt
    (patient,) = await site.patients()
    assert {i["value"] for i in patient["identifiers"]} == {"7001"}
    (review,) = await site.store.reviews()
    assert review["record_id"] == ana and "disagrees" in review["rule"]


async def test_a_prior_identifier_the_hub_never_saw_is_an_update_under_the_new_one(site: Site):
    assert await site.send("ehr", a47("U-1", "8002", "8001")) == "AA"
    await site.settle()
    (patient,) = await site.patients()
    assert {i["value"] for i in patient["identifiers"]} == {"8002"}
    assert await _ids(site, "8001") == []
    assert await site.store.reviews() == []


async def test_prior_identifiers_naming_two_patients_are_held(site: Site):
    assert await site.send("ehr", a04("S-1", "9001", "Rivera", "Ana", "19750214", "F")) == "AA"
    assert await site.send("ehr", a04("S-2", "9002", "Okafor", "Ben", "19600101", "M")) == "AA"
    await site.settle()
    both = a47("S-3", "9003", "9001").replace(
        b"MRG|9001^^^GOODHEALTH^MR", b"MRG|9001^^^GOODHEALTH^MR~9002^^^GOODHEALTH^MR"
    )
    assert await site.send("ehr", both) == "AA"
    await site.settle()
    assert await _ids(site, "9003") == []
    (review,) = await site.store.reviews()
    assert "several records" in review["rule"]
