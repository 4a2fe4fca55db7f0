"""The demo clinic's ``--once`` verdict: settled only when the store says so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from carehub.demo.clinic import DemoSummary, run_demo
from hub.ports import Delivery
from hub.sync import SyncEngine

MESSAGES = 8


async def test_once_waits_for_an_event_the_sync_engine_has_not_applied_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The sync engine holds one accepted event back until the demo has watched every other
    delivery recorded (the moment a count-based verdict would call it settled): the demo must
    wait for it rather than stop one event short."""
    release = asyncio.Event()
    held: list[str] = []
    handle = SyncEngine.handle

    async def slow_handle(self: SyncEngine, delivery: Delivery) -> None:
        if not held:
            held.append(delivery.envelope.id)
            await release.wait()
        await handle(self, delivery)

    monkeypatch.setattr(SyncEngine, "handle", slow_handle)
    quiet_ticks = [0]

    def progress(s: DemoSummary) -> None:
        # every message answered and everything routed so far delivered, twice over: a
        # verdict from these counts alone has had its chance to stop; now let the event go
        if s.sent == MESSAGES and s.delivered == s.expected_deliveries > 0:
            quiet_ticks[0] += 1
        if quiet_ticks[0] >= 2:
            release.set()

    summary = await run_demo(
        once=True,
        messages=MESSAGES,
        connections=2,
        data_dir=tmp_path,
        time_limit=60,
        progress=progress,
    )
    assert held and release.is_set()
    assert summary.ok, summary
    assert summary.events == summary.expected_deliveries == summary.delivered == 2 * MESSAGES
