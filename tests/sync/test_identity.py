"""The identity service on its own, against SQLite and PostgreSQL, through the SqlStore and
through a Unit (the two callers it serves: the FHIR API backend and the sync engine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.canonical import Identifier
from hub.config import MatchingConfig
from hub.store import SqlStore
from hub.sync import IdentityService
from hub.sync.identity import demographics, match_key

ANN = {
    "names": [{"family": "Alpha", "given": ["Ann"]}],
    "birth_date": "1970-01-01",
    "sex": "female",
}


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    store = await SqlStore.open(db_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def identity() -> IdentityService:
    return IdentityService(MatchingConfig().patient)


async def _known(store: SqlStore, canonical_id: str, record: dict[str, Any]) -> None:
    rules = MatchingConfig().patient
    keys = [k for i, r in enumerate(rules) if (k := match_key(i, r, demographics(record)))]
    async with store.unit() as unit:
        await unit.set_match_keys("Patient", canonical_id, keys)


def test_pairs_qualify_a_bare_identifier_by_its_sender(identity: IdentityService) -> None:
    ids = [Identifier(value="123"), Identifier(value="123", system="GOODHEALTH")]
    assert identity.pairs(ids, "ehr") == [("ehr:id", "123"), ("GOODHEALTH", "123")]


@pytest.mark.identity_unchecked  # reservations nothing refers to: there is no record here
async def test_racing_reservations_of_one_identifier_yield_one_id(
    store: SqlStore, identity: IdentityService
) -> None:
    pairs = [("GOODHEALTH", "R-1")]
    ids = await asyncio.gather(
        *(identity.reserve(store, "Patient", pairs, "ehr") for _ in range(4))
    )
    assert len(set(ids)) == 1
    assert await identity.resolve(store, "Patient", pairs) == [ids[0]]
    # nothing to reserve by: a fresh id each time, linked to nothing
    bare = await identity.reserve(store, "Patient", [], "ehr")
    assert bare != await identity.reserve(store, "Patient", [], "ehr")


async def test_match_links_one_candidate_and_sends_several_to_review(
    store: SqlStore, identity: IdentityService
) -> None:
    await _known(store, "p1", ANN)
    assert (await identity.match(store, ANN)).linked == "p1"
    found = await identity.identify(store, "Patient", ANN, "portal")
    assert (found.canonical_id, found.review) == ("p1", False)
    await _known(store, "p2", ANN)
    match = await identity.match(store, ANN)
    assert match.linked is None and match.candidates == ("p1", "p2")
    # through a Unit: the same operations inside the caller's transaction
    async with store.unit() as unit:
        found = await identity.identify(unit, "Patient", ANN, "portal")
    assert found.review and found.canonical_id not in ("p1", "p2")
    (review,) = await store.reviews()
    assert (review["record_id"], review["candidates"]) == (found.canonical_id, ["p1", "p2"])


async def test_identifiers_naming_two_records_go_to_review(
    store: SqlStore, identity: IdentityService
) -> None:
    for cid, pair in (("a", ("GOODHEALTH", "1")), ("b", ("BILLING", "9"))):
        await store.save_entity("Patient", cid, {"id": cid}, source="ehr")
        await store.link_identifiers("Patient", cid, [pair])
    idents = [{"system": "GOODHEALTH", "value": "1"}, {"system": "BILLING", "value": "9"}]
    record = {"identifiers": idents}
    # held: which record it is about is for a person to say (the engine opens the review
    # with the candidates: tests/sync/test_identity_safety.py)
    found = await identity.identify(store, "Patient", record, "ehr")
    assert (found.canonical_id, found.candidates) == ("a", ("b",))
    assert found.held == "its identifying identifiers name several records"
    # a merge names its survivor: the first, and the other for review
    found = await identity.identify(store, "Patient", record, "ehr", match=False)
    assert (found.canonical_id, found.held) == ("a", None)
    (review,) = await store.reviews()
    assert (review["record_id"], review["candidates"]) == ("a", ["b"])
