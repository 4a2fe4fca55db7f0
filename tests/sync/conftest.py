"""Every sync test ends with the identity invariant (``tests/invariants.py``) holding on
every store it closed: each ``SqlStore.close`` during the test checks the store first, and
the test fails (an error at teardown) when a cross-reference dangles or an identifying
identifier names two records. ``@pytest.mark.identity_unchecked`` opts out a test that
builds such a store on purpose."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from hub.errors import StoreUnavailable
from hub.store import SqlStore
from tests.invariants import identity_violations
from tests.sync.test_sync import site  # noqa: F401 - the hub on RabbitMQ, shared by name

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture(autouse=True)
def _identity_invariant(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    if request.node.get_closest_marker("identity_unchecked") is not None:
        yield
        return
    found: list[str] = []
    original = SqlStore.close

    async def close(self: SqlStore) -> None:
        # a test that stopped the database has nothing to check
        with contextlib.suppress(StoreUnavailable):
            found.extend(await identity_violations(self))
        await original(self)

    monkeypatch.setattr(SqlStore, "close", close)
    yield
    if request.node.stash.get(_FAILED, False):
        return  # failed already: the broken invariant is one more symptom, not news
    assert not found, "identity invariant broken:\n  " + "\n  ".join(found)
