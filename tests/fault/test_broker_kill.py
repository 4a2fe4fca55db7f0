"""Kill -9 the broker in the middle of a stream from 4 MLLP senders; restart it.

Every message that got AA reaches both sinks, none is applied twice.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

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
from tests.fault.sinks import RecordingSink
from tests.invariants import assert_identity_at

pytestmark = [pytest.mark.fault, pytest.mark.timeout(1800)]

MESSAGES = int(size(1000, 10_000))


async def test_broker_kill9_mid_stream_loses_and_duplicates_nothing(
    rabbit: RabbitNode, tmp_path: Path
) -> None:
    sinks = (RecordingSink("billing"), RecordingSink("records"))
    async with running_sinks(*sinks):
        port = free_port()
        cfg = hub_config(
            mllp_port=port,
            amqp_url=rabbit.url,
            db_url=_db(tmp_path),
            sinks=sinks,
        )
        hub = HubProcess(tmp_path, cfg, port)
        hub.start()
        try:
            await hub.wait_listening()
            senders = Senders(port, make_messages("BK", MESSAGES), count=4)
            started = time.monotonic()
            senders.start()
            await wait_until(lambda: len(senders.acked) >= MESSAGES * 0.4, 600, "40% acked")
            acked_at_kill = len(senders.acked)
            await asyncio.to_thread(rabbit.kill9)
            await asyncio.sleep(2)
            await asyncio.to_thread(rabbit.restart)
            await senders.wait()
            sent_for = time.monotonic() - started
            mrns = set(senders.acked.values())
            await wait_until(all_delivered(sinks, mrns), 300, "every acked message delivered")
            drained_for = time.monotonic() - started
            await asyncio.sleep(3)  # let stray redeliveries arrive before counting
            assert hub.alive, f"the hub died; see {hub.log}"
        finally:
            hub.stop()
    summary = Summary(
        "broker-kill",
        sent=MESSAGES,
        acked=len(senders.acked),
        sinks=list(sinks),
        acked_mrns=mrns,
        redeliveries_hub=hub_redeliveries(hub),
        extra={
            "acked_at_kill": acked_at_kill,
            "refused": senders.stats.refused,
            "no_answer": senders.stats.no_answer,
            "send_s": round(sent_for, 1),
            "drain_s": round(drained_for, 1),
        },
    )
    summary.check()
    # every cross-reference points at a record; one identifier, one record
    await assert_identity_at(_db(tmp_path))
    assert len(senders.acked) == MESSAGES and not senders.stats.gave_up


async def test_broker_kill9_while_deliveries_wait_in_retry_tiers(
    rabbit: RabbitNode, tmp_path: Path
) -> None:
    """A sink is down, so its deliveries sit in the retry tiers (TTL queues dead-lettering
    back, at least once); the broker is killed with them there. After the restart and the
    sink's return, nothing is lost or applied twice."""
    messages = int(size(400, 2000))
    billing, records = RecordingSink("billing"), RecordingSink("records")
    async with running_sinks(billing, records):
        port = free_port()
        cfg = hub_config(
            mllp_port=port,
            amqp_url=rabbit.url,
            db_url=_db(tmp_path),
            sinks=(billing, records),
            retry_delays=(1, 2, 5, 10, 20),
        )
        hub = HubProcess(tmp_path, cfg, port)
        hub.start()
        try:
            await hub.wait_listening()
            await billing.stop()
            senders = Senders(port, make_messages("RT", messages), count=4)
            senders.start()
            await senders.wait()
            await asyncio.sleep(3)  # into the tiers
            await asyncio.to_thread(rabbit.kill9)
            await asyncio.sleep(2)
            await asyncio.to_thread(rabbit.restart)
            await billing.start()
            mrns = set(senders.acked.values())
            await wait_until(all_delivered((billing, records), mrns), 300, "all delivered")
            await asyncio.sleep(3)
            assert hub.alive, f"the hub died; see {hub.log}"
        finally:
            hub.stop()
    summary = Summary(
        "broker-kill-in-tiers",
        sent=messages,
        acked=len(senders.acked),
        sinks=[billing, records],
        acked_mrns=mrns,
        redeliveries_hub=hub_redeliveries(hub),
    )
    summary.check()
    # every cross-reference points at a record; one identifier, one record
    await assert_identity_at(_db(tmp_path))
    assert len(senders.acked) == messages


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'carehub.db'}"
