"""The identity invariant (issue 11), checked on a store after a test has used it.

1. Every cross-reference entry names a record that exists — or a reservation that a record
   refers to (a reference seen before its record: the record arrives later under that id).
   A reservation nothing refers to, or one an identifier of a live record resolves to, is
   a patient split in two.
2. Every identifying identifier a live record carries resolves to that record — so no
   identifying identifier value of one namespace names two records (placeholders and
   non-identifying identifiers such as an SSN or a member id may be shared; retired and
   removed records are not live).

``identity_violations(store)`` returns what is wrong (namespaces and canonical ids, never
identifier values); ``assert_identity(store)`` fails a test with that list. The sync tests
run it on every store they close (``tests/sync/conftest.py``); the fault suite can call
either on its store.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import MatchingConfig
from hub.store import SqlStore
from hub.store import schema as t
from hub.sync import IdentityService
from hub.sync.removal import DELETED_SOURCE

__all__ = ["assert_identity", "assert_identity_at", "identity_violations"]


async def _rows(store: SqlStore, stmt: Any) -> list[Any]:
    async def work(conn: AsyncConnection) -> list[Any]:
        return list((await conn.execute(stmt)).all())

    return await store._tx(work)


async def identity_violations(
    store: SqlStore, identity: IdentityService | None = None
) -> list[str]:
    """What breaks the invariant in ``store`` (empty: it holds). ``identity``: the hub's
    service (its ``matching.identifying``), by default one of the default config."""
    if identity is None:
        matching = MatchingConfig()
        identity = IdentityService(matching.patient, matching.identifying)
    x, e, r = t.xrefs, t.entities, t.refs
    xrefs = await _rows(store, select(x.c.entity_type, x.c.namespace, x.c.value, x.c.canonical_id))
    entities = await _rows(
        store, select(e.c.entity_type, e.c.id, e.c.data, e.c.source, e.c.merged_into)
    )
    refs = await _rows(store, select(r.c.to_type, r.c.to_id))
    existing = {(row[0], row[1]) for row in entities}
    referred = {(row[0], row[1]) for row in refs}
    owner = {(row[0], row[1], row[2]): row[3] for row in xrefs}
    out = [
        f"xref {et} {ns} → {cid}: no such record and nothing refers to it"
        for et, ns, _, cid in xrefs
        if (et, cid) not in existing and (et, cid) not in referred
    ]
    carried: dict[tuple[str, str, str], list[str]] = {}
    for et, eid, data, source, merged_into in entities:
        if merged_into or source == DELETED_SOURCE:
            continue
        state = json.loads(data)
        origin = (state.get("meta") or {}).get("source") or source or ""
        linking, _ = identity.split(state.get("identifiers") or [], origin, et)
        for ns, value in dict.fromkeys(linking):
            carried.setdefault((et, ns, value), []).append(eid)
            named = owner.get((et, ns, value))
            if named != eid:
                what = "nothing" if named is None else f"{et}/{named}"
                if named is not None and (et, named) not in existing:
                    what += " (a reservation: no such record)"
                out.append(f"{et}/{eid} carries a {ns} identifier that names {what}")
    out += [
        f"{et}: one {ns} identifier is carried by {len(ids)} records: {', '.join(sorted(ids))}"
        for (et, ns, _), ids in carried.items()
        if len(ids) > 1
    ]
    return out


async def assert_identity(store: SqlStore, identity: IdentityService | None = None) -> None:
    problems = await identity_violations(store, identity)
    assert not problems, "identity invariant broken:\n  " + "\n  ".join(problems)


async def assert_identity_at(db_url: str) -> None:
    """``assert_identity`` on the store at ``db_url`` (opened and closed here): the fault
    tests call it after the hub they killed has drained."""
    store = await SqlStore.open(db_url)
    try:
        await assert_identity(store)
    finally:
        await store.close()
