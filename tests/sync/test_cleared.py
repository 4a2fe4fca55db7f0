"""Cleared fields (``meta.cleared``, HL7 v2 ``""``): absent keeps, cleared removes; a clear
is a change for the ownership and echo rules."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hub.records import EntityRecord
from hub.sync.rules import Case, Echo, NotOwned
from hub.sync.state import merge_state
from tests.sync.test_identity_safety import a04
from tests.sync.test_results_identity import oru
from tests.sync.test_sync import Site

HELD = {
    "id": "p1",
    "identifiers": [{"value": "1", "system": "H"}],
    "birth_date": "1985-02-14",
    "sex": "female",
    "meta": {"source": "ehr", "field_sources": {"birth_date": "ehr", "sex": "ehr"}},
}


def _incoming(**fields: Any) -> dict[str, Any]:
    cleared = fields.pop("cleared", None)
    meta: dict[str, Any] = {"source": "ehr"}
    if cleared is not None:
        meta["cleared"] = cleared
    return {"identifiers": [{"value": "1", "system": "H"}], "meta": meta, **fields}


def test_an_absent_field_is_kept_and_a_cleared_one_removed():
    kept = merge_state(HELD, _incoming(sex="male"), "ehr")
    assert kept["birth_date"] == "1985-02-14" and kept["sex"] == "male"
    assert "cleared" not in kept["meta"]

    cleared = merge_state(HELD, _incoming(cleared=["birth_date"]), "ehr")
    assert "birth_date" not in cleared and cleared["sex"] == "female"
    assert cleared["meta"]["cleared"] == ["birth_date"]
    assert cleared["meta"]["field_sources"]["birth_date"] == "ehr"


def test_the_next_version_does_not_inherit_the_clear():
    cleared = merge_state(HELD, _incoming(cleared=["birth_date"]), "ehr")
    after = merge_state(cleared, _incoming(sex="male"), "ehr")
    assert "cleared" not in after["meta"]


def test_a_clear_of_an_empty_field_or_of_bookkeeping_changes_nothing():
    state = merge_state(HELD, _incoming(cleared=["deceased_at", "identifiers", "id"]), "ehr")
    assert state["identifiers"] == HELD["identifiers"] and state["id"] == "p1"
    assert "cleared" not in state["meta"]


def _case(incoming: dict[str, Any], source: str = "billing") -> Case:
    current = EntityRecord("Patient", "p1", 3, HELD, "ehr", datetime.now(UTC), None)
    env: Any = SimpleNamespace(source_system=source, id="e1")
    unit: Any = None
    return Case(unit, env, "Patient", "p1", incoming, current)


async def test_a_clear_of_an_owned_field_from_another_system_is_a_conflict():
    rule = NotOwned({"Patient": {"birth_date": "ehr"}})
    case = _case(_incoming(cleared=["birth_date", "sex"]))
    decision = await rule.judge(case)
    assert decision is not None and decision.detail == "not the owner of: birth_date"
    assert case.incoming["meta"]["cleared"] == ["sex"]
    state = merge_state(HELD, case.incoming, case.source)
    assert state["birth_date"] == "1985-02-14" and "sex" not in state


async def test_the_owner_may_clear_its_field():
    rule = NotOwned({"Patient": {"birth_date": "ehr"}})
    assert await rule.judge(_case(_incoming(cleared=["birth_date"]), source="ehr")) is None


async def test_a_clear_is_never_an_echo():
    class Unit:
        async def last_sent(self, *_: object) -> dict[str, Any]:
            return {"sex": "female"}

    case = _case(_incoming(sex="female", cleared=["birth_date"]))
    case.unit = Unit()  # type: ignore[assignment]
    assert await Echo().judge(case) is None
    case.incoming["meta"]["cleared"] = []
    echo = await Echo().judge(case)
    assert echo is not None  # the same values without the clear: an echo


# ---------------------------------------------------------------- one HL7 field of a list

HOME = {"system": "phone", "value": "555-1111", "use": "home"}
MOBILE = {"system": "phone", "value": "555-2222", "use": "mobile"}
WORK = {"system": "phone", "value": "555-9999", "use": "work"}
PHONES = {**HELD, "telecom": [HOME, MOBILE, WORK], "multiple_birth": 2}


def test_a_partial_clear_removes_only_what_its_hl7_field_carries():
    """``telecom:home`` (PID-13 ``""``) removes the home and personal numbers, keeps the
    work one; ``telecom:work`` (PID-14 ``""``) the reverse; ``multiple_birth:order``
    (PID-25 ``""``) keeps the PID-24 flag."""
    home = merge_state(PHONES, _incoming(cleared=["telecom:home"]), "ehr")
    assert home["telecom"] == [WORK] and home["meta"]["cleared"] == ["telecom:home"]
    assert home["meta"]["field_sources"]["telecom"] == "ehr"
    work = merge_state(PHONES, _incoming(cleared=["telecom:work"]), "ehr")
    assert work["telecom"] == [HOME, MOBILE] and work["meta"]["cleared"] == ["telecom:work"]
    both = merge_state(PHONES, _incoming(cleared=["telecom:home", "telecom:work"]), "ehr")
    assert "telecom" not in both
    order = merge_state(PHONES, _incoming(cleared=["multiple_birth:order"]), "ehr")
    assert order["multiple_birth"] is True


def test_a_partial_clear_that_finds_nothing_changes_nothing():
    only_work = {**HELD, "telecom": [WORK]}
    state = merge_state(only_work, _incoming(cleared=["telecom:work"]), "ehr")
    assert "telecom" not in state and state["meta"]["cleared"] == ["telecom:work"]
    state = merge_state(only_work, _incoming(cleared=["telecom:home"]), "ehr")
    assert state["telecom"] == [WORK] and "cleared" not in state["meta"]


async def test_a_partial_clear_is_a_change_for_the_ownership_and_echo_rules():
    case = _case(_incoming(cleared=["telecom:home"]))
    case.current = EntityRecord("Patient", "p1", 3, PHONES, "ehr", datetime.now(UTC), None)
    decision = await NotOwned({"Patient": {"telecom": "ehr"}}).judge(case)
    assert decision is not None and decision.detail == "not the owner of: telecom"
    assert case.incoming["meta"]["cleared"] == []

    class Unit:
        async def last_sent(self, *_: object) -> dict[str, Any]:
            return {"sex": "female"}

    case = _case(_incoming(sex="female", cleared=["telecom:home"]))
    case.current = EntityRecord("Patient", "p1", 3, PHONES, "ehr", datetime.now(UTC), None)
    case.unit = Unit()  # type: ignore[assignment]
    assert await Echo().judge(case) is None
    case.incoming["meta"]["cleared"] = []
    assert await Echo().judge(case) is not None  # without the clear: an echo


# ---------------------------------------------------------------- identity is never cleared

_A08_IDENTITY_NULL = (
    b"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128093000||ADT^A08^ADT_A01|U-1|P|2.5.1\r"
    b'EVN|A08|20261128093000\rPID|1||4001^^^GOODHEALTH^MR||""||""|""\rPV1|1|N\r'
)


async def test_an_explicit_null_never_strips_the_identity_and_the_hold_still_works(site: Site):
    """PID-5/7/8 ``""`` (a warning, not a clear): the patient keeps name, birth date and
    sex, so a result for another person under the same MRN is still held for review."""
    assert await site.send("ehr", a04("R-1", "4001", "Zeta", "Zoe", "19600606", "F")) == "AA"
    await site.settle()
    (before,) = await site.patients()
    assert await site.send("ehr", _A08_IDENTITY_NULL) == "AA"
    await site.settle()
    (patient,) = await site.patients()
    for key in ("names", "birth_date", "sex"):
        assert patient[key] == before[key]
    assert not set(patient["meta"].get("cleared") or []) & {"names", "birth_date", "sex"}

    assert await site.send("ehr", oru("L-1", "4001", "Eta", "Ed", "19990909", "M")) == "AA"
    await site.settle()
    assert await site.store.list_entities("Observation") == []
    reviews = await site.store.reviews()
    assert reviews and {r["record_id"] for r in reviews} == {patient["id"]}


def test_a_part_cleared_beside_a_value_sent_is_recorded_for_the_destinations():
    """PID-13 ``""`` with a new PID-14 number: the sent list replaces the held one, and the
    version says it cleared the home numbers (so an HL7 v2 destination gets PID-13 ``""``)."""
    new_work = {"system": "phone", "value": "555-0000", "use": "work"}
    # a PID-14 repetition whose XTN-2 says PRS: what the message sends is kept as sent
    cell = {"system": "phone", "value": "555-3333", "use": "mobile"}
    sent = _incoming(telecom=[new_work, cell], cleared=["telecom:home"])
    state = merge_state(PHONES, sent, "ehr")
    assert state["telecom"] == [new_work, cell] and state["meta"]["cleared"] == ["telecom:home"]
