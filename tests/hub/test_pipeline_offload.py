"""A big inbound message is read, checked and mapped in the pipeline's worker threads, a
small one inline on the event loop, and its many events are published a slice at a time
(issue 11 item 7); the answer is the same either way."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from bench.mllp_latency import big_dft
from carehub.app.hl7v2 import Hl7v2Inbound
from hub.context import MapContext
from hub.judge import InboundOutcome
from hub.pipeline import OFFLOAD_BYTES, PUBLISH_SLICE, Pipeline
from hub.store import SqlStore
from queues import MemoryTransport, build_topology, ingress_exchange
from tests.e2e.test_adt_to_fhir import A04

NS = "offload"


class Recording(Hl7v2Inbound):
    """HL7 v2, noting the thread each CPU-bound step ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[str, str] = {}

    def _note(self, step: str) -> None:
        self.threads[step] = threading.current_thread().name

    def parse(self, raw: bytes) -> Any:
        self._note("parse")
        return super().parse(raw)

    def check(self, native: Any) -> Any:
        self._note("check")
        return super().check(native)

    def map(self, native: Any, ctx: MapContext) -> Any:
        self._note("map")
        return super().map(native, ctx)


def padded(control: str, size: int) -> bytes:
    """The e2e A04 with its own MSH-10, grown to ``size`` bytes by a note in an OBX."""
    msg = A04.replace(b"MSG-A04-0001", control.encode())
    return msg + b"OBX|1|TX|NOTE^Note^L||" + b"x" * max(0, size - len(msg) - 30) + b"||||||F\r"


async def test_a_big_message_is_judged_in_a_worker_thread_and_a_small_one_inline(
    tmp_path: Path,
):
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'offload.db'}")
    transport = MemoryTransport()
    await transport.start(build_topology(NS, {}))
    try:
        pipeline = Pipeline(store, transport, ingress_exchange=ingress_exchange(NS))
        loop_thread = threading.current_thread().name
        answers = {}
        for name, size in (("small", 0), ("big", OFFLOAD_BYTES + 1)):
            fmt = Recording()
            raw = padded(name.upper(), size)
            assert (len(raw) >= OFFLOAD_BYTES) == (name == "big")
            result = await pipeline.receive(fmt, raw, system="ehr")
            assert result.outcome is InboundOutcome.ACCEPTED, result.report.as_list()
            answers[name] = (fmt.threads, len(result.events))
        small_threads, small_events = answers["small"]
        big_threads, big_events = answers["big"]
        assert set(small_threads.values()) == {loop_thread}
        assert set(big_threads) == {"parse", "check", "map"}
        assert all(t.startswith("carehub-judge") for t in big_threads.values()), big_threads
        assert small_events == big_events > 0
    finally:
        await transport.close()
        await store.close()


class Counting(MemoryTransport):
    """The memory transport, counting publishes in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most = 0

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0)  # a real broker's confirm takes a turn of the loop at least
            await super().publish(*args, **kwargs)
        finally:
            self.in_flight -= 1


async def test_a_message_with_hundreds_of_events_publishes_them_a_slice_at_a_time(
    tmp_path: Path,
):
    """A DFT^P03 with 300 FT1 (300 charge events): at most PUBLISH_SLICE publishes at once,
    so the event loop reads other connections between slices; all 300 are published."""
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'slices.db'}")
    transport = Counting()
    await transport.start(build_topology(NS, {}))
    try:
        pipeline = Pipeline(store, transport, ingress_exchange=ingress_exchange(NS))
        result = await pipeline.receive(Hl7v2Inbound(), big_dft("SLICED", 300), system="ehr")
        assert result.outcome is InboundOutcome.ACCEPTED, result.report.as_list()
        assert len(result.events) == 300
        assert transport.most == PUBLISH_SLICE
        depths = await transport.queue_depths()
        assert sum(depths.values()) == 300
    finally:
        await transport.close()
        await store.close()
