"""The identity invariant checker (``tests/invariants.py``) goes red on a broken store, and
the sync tests' automatic check (``tests/sync/conftest.py``) fails a test that leaves one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.store import SqlStore
from tests.invariants import assert_identity, identity_violations

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    store = await SqlStore.open(db_url)
    try:
        yield store
    finally:
        await store.close()


def _patient(cid: str, *idents: tuple[str, str, str | None]) -> dict[str, Any]:
    return {
        "id": cid,
        "identifiers": [{"system": s, "value": v, "type": t} for s, v, t in idents],
        "meta": {"source": "ehr"},
    }


async def _save(store: SqlStore, etype: str, data: dict[str, Any]) -> None:
    await store.save_entity(etype, data["id"], data, source="ehr")


async def test_a_consistent_store_has_no_violations(store: SqlStore) -> None:
    ssn = ("http://hl7.org/fhir/sid/us-ssn", "123-45-6780", "SS")
    # two people sharing an SSN (not identifying) and a placeholder: allowed
    for cid, mrn in (("p1", "M1"), ("p2", "M2")):
        await _save(store, "Patient", _patient(cid, ("GOODHEALTH", mrn, "MR"), ssn))
        await store.link_identifiers("Patient", cid, [("GOODHEALTH", mrn)])
    await store.link_identifiers("Patient", "p1", [(ssn[0], ssn[1])])
    # a reservation an encounter points at, its record not arrived yet: allowed
    await store.link_identifiers("Patient", "r1", [("GOODHEALTH", "M9")])
    await _save(store, "Encounter", {"id": "e1"})
    await store.set_refs("Encounter", "e1", [("Patient", "r1")])
    assert await identity_violations(store) == []
    await assert_identity(store)


@pytest.mark.identity_unchecked  # broken on purpose
async def test_each_kind_of_break_is_named(store: SqlStore) -> None:
    # a cross-reference to nothing that nothing refers to
    await store.link_identifiers("Patient", "ghost", [("GOODHEALTH", "G1")])
    # two records carrying one MRN, which the cross-reference gives to the second
    await _save(store, "Patient", _patient("p1", ("GOODHEALTH", "M1", "MR")))
    mrns = (("GOODHEALTH", "M1", "MR"), ("GOODHEALTH", "M2", "MR"))
    await _save(store, "Patient", _patient("p2", *mrns))
    await store.link_identifiers("Patient", "p2", [("GOODHEALTH", "M1"), ("GOODHEALTH", "M2")])
    # a record carrying an MRN that names a reservation (the split of issue 11, item 2)
    await _save(store, "Patient", _patient("p3", ("GOODHEALTH", "M3", "MR")))
    await store.link_identifiers("Patient", "r3", [("GOODHEALTH", "M3")])
    await _save(store, "Encounter", {"id": "e3"})
    await store.set_refs("Encounter", "e3", [("Patient", "r3")])
    found = await identity_violations(store)
    assert found == [
        "xref Patient GOODHEALTH → ghost: no such record and nothing refers to it",
        "Patient/p1 carries a GOODHEALTH identifier that names Patient/p2",
        "Patient/p3 carries a GOODHEALTH identifier that names Patient/r3 "
        "(a reservation: no such record)",
        "Patient: one GOODHEALTH identifier is carried by 2 records: p1, p2",
    ]
    with pytest.raises(AssertionError, match="identity invariant broken"):
        await assert_identity(store)


def test_the_automatic_check_fails_a_sync_test_that_leaves_a_broken_store() -> None:
    here = "tests/sync/invariant_probe.py"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", here],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 passed, 1 error" in out and "identity invariant broken" in out, out
    assert "ghost: no such record" in out
