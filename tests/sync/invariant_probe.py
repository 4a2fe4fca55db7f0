"""A sync test that leaves a broken store behind, on purpose: not collected by the suite
(the name does not match ``test_*.py``); ``test_invariants.py`` runs it by path in a
subprocess and checks that the automatic identity check of ``tests/sync/conftest.py``
fails it at teardown."""

from __future__ import annotations

from pathlib import Path

from hub.store import SqlStore


async def test_probe_leaves_a_broken_store(tmp_path: Path) -> None:
    """Passes on its own; the automatic check must fail it at teardown."""
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'probe.db'}")
    await store.link_identifiers("Patient", "ghost", [("GOODHEALTH", "G1")])
    await store.close()
