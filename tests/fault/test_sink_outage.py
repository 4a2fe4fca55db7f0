"""A sink down for a while (default 10 s, a minute with CAREHUB_FAULT_FULL=1): its backlog
drains afterwards, the other sink is not held up, and nothing transient is parked."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hub.store import SqlStore
from queues import parking_queue, work_queue
from tests.fault.harness import (
    HubProcess,
    Senders,
    Summary,
    all_delivered,
    broker_look,
    hub_config,
    hub_redeliveries,
    make_messages,
    running_sinks,
    size,
    wait_until,
)
from tests.fault.rabbit import RabbitNode, free_port
from tests.fault.sinks import RecordingSink
from tests.invariants import assert_identity_at

pytestmark = [pytest.mark.fault, pytest.mark.timeout(1800)]

DOWN = float(size(10, 60))
MESSAGES = int(size(600, 3000))
#: the tiers outlast the outage (sum > DOWN), so a transient outage is never parked
DELAYS = (1, 2, 5, 10, 20) if DOWN <= 10 else (1, 5, 15, 30, 60)
NS = "fault"


async def test_sink_down_then_backlog_drains_and_nothing_is_parked(
    rabbit: RabbitNode, tmp_path: Path
) -> None:
    billing, records = RecordingSink("billing"), RecordingSink("records")
    db_url = f"sqlite:///{tmp_path / 'carehub.db'}"
    async with running_sinks(billing, records):
        port = free_port()
        cfg = hub_config(
            mllp_port=port,
            amqp_url=rabbit.url,
            db_url=db_url,
            sinks=(billing, records),
            namespace=NS,
            retry_delays=DELAYS,
        )
        hub = HubProcess(tmp_path, cfg, port)
        hub.start()
        try:
            await hub.wait_listening()
            senders = Senders(port, make_messages("SD", MESSAGES), count=4)
            senders.start()
            await wait_until(lambda: len(senders.acked) >= MESSAGES * 0.2, 300, "20% acked")
            await billing.stop()
            down_at = time.monotonic()
            applied_at_down = len(billing.applied)
            await asyncio.sleep(DOWN)
            # the other sink kept receiving while billing was down
            records_during = len(records.applied)
            await billing.start()
            up_at = time.monotonic()
            await senders.wait()
            mrns = set(senders.acked.values())
            await wait_until(all_delivered([records], mrns), 300, "records sink has everything")
            await wait_until(all_delivered([billing], mrns), 300, "billing backlog drained")
            drained_after_up = time.monotonic() - up_at
            await asyncio.sleep(3)
            work = work_queue(NS, "billing")
            depths, _ = await asyncio.to_thread(
                broker_look,
                rabbit.url,
                [parking_queue(work), parking_queue(work_queue(NS, "records"))],
            )
        finally:
            hub.stop()
    store = await SqlStore.open(db_url)
    try:
        parked = await store.list_deliveries(status="parked")
    finally:
        await store.close()
    summary = Summary(
        "sink-outage",
        sent=MESSAGES,
        acked=len(senders.acked),
        sinks=[billing, records],
        acked_mrns=mrns,
        redeliveries_hub=hub_redeliveries(hub),
        extra={
            "down_s": DOWN,
            "billing_applied_at_down": applied_at_down,
            "records_applied_while_down": records_during,
            "drain_after_up_s": round(drained_after_up, 1),
            "outage_s": round(up_at - down_at, 1),
            "parked": sum(depths.values()),
        },
    )
    summary.check()
    # every cross-reference points at a record; one identifier, one record
    await assert_identity_at(db_url)
    assert depths == dict.fromkeys(depths, 0), f"parked on the broker: {depths}"
    assert parked == [], "the store records parked deliveries"
    assert records_during > applied_at_down or records_during == len(mrns)
