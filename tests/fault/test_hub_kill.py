"""Kill -9 the hub at chosen points of its work, round after round, and restart it.

Kill points (``hub/faults.py``): before_store, after_store, after_publish (sent to the
broker, no confirm yet), after_confirm (confirmed, answer neither recorded nor sent) and
sync_after_publish (the sync engine published a change, not yet marked applied) and
mid_delivery (the sink took it, the delivery not yet recorded). Senders keep resending
whatever got no ACK; at the end every AA'd message is at both sinks once.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.store import SqlStore
from tests.conftest import fresh_pg_database
from tests.fault.harness import (
    HubProcess,
    Senders,
    Summary,
    all_delivered,
    hub_config,
    hub_redeliveries,
    make_messages,
    running_sinks,
    size,
    wait_until,
)
from tests.fault.rabbit import RabbitNode, free_port
from tests.fault.sinks import RecordingMllpSink, RecordingSink
from tests.invariants import assert_identity

pytestmark = [pytest.mark.fault, pytest.mark.timeout(1800)]

POINTS = (
    "before_store",
    "after_store",
    "after_publish",
    "after_confirm",
    "sync_after_publish",
    "mid_delivery",
)
ROUNDS = int(size(6, 24))
MESSAGES = int(size(1200, 5000))


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'carehub.db'}"
        return
    async with fresh_pg_database() as url:
        yield url


async def test_hub_kill9_at_every_fault_point_loses_and_duplicates_nothing(
    rabbit: RabbitNode, tmp_path: Path, db_url: str, request: pytest.FixtureRequest
) -> None:
    seed = int(os.environ.get("CAREHUB_FAULT_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    sinks = (RecordingSink("billing"), RecordingSink("records"), RecordingMllpSink("lab"))
    killed: Counter[str] = Counter()
    not_reached: Counter[str] = Counter()
    async with running_sinks(*sinks):
        port = free_port()
        cfg = hub_config(
            mllp_port=port,
            amqp_url=rabbit.url,
            db_url=db_url,
            sinks=sinks,
        )
        hub = HubProcess(tmp_path, cfg, port)
        senders = Senders(port, make_messages("HK", MESSAGES), count=4, ack_timeout=5)
        started = time.monotonic()
        try:
            for n in range(ROUNDS):
                point = POINTS[n % len(POINTS)]
                hits = rng.randint(1, 40)
                hub.start(fault=f"{point}:{hits}")
                await hub.wait_listening(may_die=True)
                if n == 0:
                    senders.start()
                try:
                    await wait_until(lambda: not hub.alive, 30, f"hub killed at {point}")
                except AssertionError:
                    # the stream ran dry before the point was reached this often
                    not_reached[point] += 1
                    hub.kill9()
                    continue
                assert hub.returncode == -9, f"hub ended with {hub.returncode}; see {hub.log}"
                killed[point] += 1
            hub.start()
            await hub.wait_listening()
            await senders.wait()
            mrns = set(senders.acked.values())
            await wait_until(all_delivered(sinks, mrns), 300, "every acked message delivered")
            drained_for = time.monotonic() - started
            await asyncio.sleep(3)
            assert hub.alive, f"the hub died; see {hub.log}"
        finally:
            await senders.cancel()
            hub.stop()
    store = await SqlStore.open(db_url)
    try:
        # rows of messages whose hub died before answering stay "received": kept, not lost
        counts = await store.message_counts()
        # kill -9 mid-transaction never leaves a split patient or a dangling reservation
        await assert_identity(store)
    finally:
        await store.close()
    summary = Summary(
        f"hub-kill[{request.node.callspec.params['db_url']}]",
        sent=MESSAGES,
        acked=len(senders.acked),
        sinks=list(sinks),
        acked_mrns=mrns,
        redeliveries_hub=hub_redeliveries(hub),
        extra={
            "rounds": ROUNDS,
            "seed": seed,
            "killed": dict(killed),
            "not_reached": dict(not_reached),
            "resends": senders.stats.attempts - MESSAGES,
            "drain_s": round(drained_for, 1),
            "stored": counts,
        },
    )
    summary.check()
    assert len(senders.acked) == MESSAGES and not senders.stats.gave_up
    assert sum(killed.values()) >= ROUNDS * 0.8, summary.line()
