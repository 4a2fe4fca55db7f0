"""Poison messages: one the sink refuses (422, permanent) and one it can never take (503 for
ever). Both are parked — the first at once, the second after the configured retry tiers —
with the reason and the attempt history; the other messages are not held up."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from hub.store import SqlStore
from queues import ATTEMPT, HISTORY, PARK_REASON, parking_queue, work_queue
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

pytestmark = [pytest.mark.fault, pytest.mark.timeout(900)]

MESSAGES = int(size(300, 2000))
DELAYS = (0.5, 1, 2)
NS = "fault"


async def test_poison_is_parked_with_reason_and_history_and_holds_nothing_up(
    rabbit: RabbitNode, tmp_path: Path
) -> None:
    messages = make_messages("PM", MESSAGES)
    refused, unreachable = messages[5], messages[6]
    billing = RecordingSink("billing", reject_values={refused.mrn}, fail_values={unreachable.mrn})
    records = RecordingSink("records")
    db_url = f"sqlite:///{tmp_path / 'carehub.db'}"
    parked_q = parking_queue(work_queue(NS, "billing"))
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
            senders = Senders(port, messages, count=4)
            started = time.monotonic()
            senders.start()
            await senders.wait()
            mrns = set(senders.acked.values())
            others = mrns - {refused.mrn, unreachable.mrn}
            await wait_until(all_delivered([billing], others), 120, "the others delivered")
            others_done = time.monotonic() - started

            async def both_parked() -> bool:
                depths, _ = await asyncio.to_thread(broker_look, rabbit.url, [parked_q])
                return depths[parked_q] == 2

            await wait_until(both_parked, 120, "both poison messages parked", interval=0.5)
            parked_after = time.monotonic() - started
            await wait_until(all_delivered([records], mrns), 60, "records has everything")
            _, copies = await asyncio.to_thread(broker_look, rabbit.url, [parked_q], parked_q)
        finally:
            hub.stop()
    store = await SqlStore.open(db_url)
    try:
        recorded = await store.list_deliveries(destination="billing", status="parked")
    finally:
        await store.close()

    by_mrn = {
        mrn: c
        for c in copies
        for mrn in (refused.mrn, unreachable.mrn)
        if mrn in json.dumps(json.loads(c.body))
    }
    assert set(by_mrn) == {refused.mrn, unreachable.mrn}
    permanent, transient = by_mrn[refused.mrn], by_mrn[unreachable.mrn]
    # refused by the partner: parked at the first attempt, the partner's reason kept
    assert "PartnerRejected" in str(permanent.headers[PARK_REASON])
    assert len(permanent.headers[HISTORY]) == 1  # type: ignore[arg-type]
    # never reachable: one try plus one per retry tier, then parked, each attempt on record
    assert str(transient.headers[PARK_REASON]).startswith("retries exhausted")
    history = [str(h) for h in transient.headers[HISTORY]]  # type: ignore[attr-defined]
    assert len(history) == len(DELAYS) + 1 and "parked" in history[-1]
    assert int(transient.headers[ATTEMPT]) == len(DELAYS)  # type: ignore[call-overload]
    tries = billing.seen[unreachable.mrn]
    # the store says so too: both deliveries recorded as parked, with their attempts
    assert {r.status for r in recorded} == {"parked"} and len(recorded) == 2, recorded
    summary = Summary(
        "poison",
        sent=MESSAGES,
        acked=len(senders.acked),
        sinks=[billing, records],
        acked_mrns=others,
        redeliveries_hub=hub_redeliveries(hub),
        extra={
            "parked": len(copies),
            "others_delivered_s": round(others_done, 1),
            "poison_parked_s": round(parked_after, 1),
            "requests_for_unreachable": tries,
            "attempts_recorded": sorted(r.attempts for r in recorded),
        },
    )
    summary.check()
    # every cross-reference points at a record; one identifier, one record
    await assert_identity_at(db_url)
    assert len(senders.acked) == MESSAGES
