"""Broker unreachable when the hub starts: the hub starts anyway, refuses to acknowledge
(AR, "send again later") while it cannot get a confirm, and recovers on its own when the
broker comes up — no restart, no operator."""

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

pytestmark = [pytest.mark.fault, pytest.mark.timeout(900)]

DOWN = float(size(8, 30))
MESSAGES = int(size(300, 2000))


async def test_broker_down_at_start_no_ack_then_recovers_by_itself(
    rabbit_node: RabbitNode, tmp_path: Path
) -> None:
    sinks = (RecordingSink("billing"), RecordingSink("records"))
    async with running_sinks(*sinks):
        port = free_port()
        cfg = hub_config(
            mllp_port=port,
            amqp_url=rabbit_node.url,  # nothing listens there yet
            db_url=_db(tmp_path),
            sinks=sinks,
        )
        hub = HubProcess(tmp_path, cfg, port)
        hub.start()
        try:
            await hub.wait_listening()
            senders = Senders(port, make_messages("BD", MESSAGES), count=4, pause=0.5)
            senders.start()
            await asyncio.sleep(DOWN)
            refused_while_down = senders.stats.refused
            assert hub.alive, f"the hub gave up without a broker; see {hub.log}"
            assert senders.acked == {}, "acknowledged without a broker confirm"
            assert refused_while_down > 0, "no answer at all while the broker was down"
            boot_at = time.monotonic()
            await asyncio.to_thread(rabbit_node.start)
            up_at = time.monotonic()
            await senders.wait()
            mrns = set(senders.acked.values())
            await wait_until(all_delivered(sinks, mrns), 300, "every acked message delivered")
            await asyncio.sleep(2)
            assert hub.alive
        finally:
            await senders.cancel()
            hub.stop()
    first_ack = min(t for t, _ in senders.stats.ack_times)
    assert first_ack >= boot_at
    summary = Summary(
        "broker-down-at-start",
        sent=MESSAGES,
        acked=len(senders.acked),
        sinks=list(sinks),
        acked_mrns=mrns,
        redeliveries_hub=hub_redeliveries(hub),
        extra={
            "down_s": DOWN,
            "refused_while_down": refused_while_down,
            "broker_boot_s": round(up_at - boot_at, 1),
            "first_ack_after_broker_up_s": round(first_ack - up_at, 1),
            "hub_starts": hub.starts,
        },
    )
    summary.check()
    # every cross-reference points at a record; one identifier, one record
    await assert_identity_at(_db(tmp_path))
    assert len(senders.acked) == MESSAGES and hub.starts == 1


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'carehub.db'}"
