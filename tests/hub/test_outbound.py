"""The outbound worker's record of a failed delivery matches what the settle step does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.envelope import Envelope
from hub.errors import PartnerUnavailable
from hub.outbound import OutboundWorker
from hub.ports import Delivered
from hub.store import SqlStore
from tests.queues.queues_testkit import make_envelope


@dataclass
class FakeDelivery:
    envelope: Envelope
    attempt: int
    redelivered: bool = False


class Unreachable:
    async def deliver(self, envelope: Envelope) -> Delivered:
        raise PartnerUnavailable("connection refused")

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(("attempt", "status"), [(0, "retrying"), (1, "retrying"), (2, "parked")])
async def test_a_transient_failure_on_the_last_tier_is_recorded_as_parked(
    tmp_path: Path, attempt: int, status: str
) -> None:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'carehub.db'}")
    try:
        worker = OutboundWorker(store, "billing", Unreachable(), format="fhir", retry_tiers=2)
        env = make_envelope()
        with pytest.raises(PartnerUnavailable):
            await worker.handle(FakeDelivery(env, attempt))  # type: ignore[arg-type]
        record = await store.get_delivery(env.id, "billing")
    finally:
        await store.close()
    assert record is not None
    assert record.status == status and record.attempts == attempt + 1
    if status == "parked":
        assert record.detail is not None and record.detail.startswith("retries exhausted")
