"""MLLP ACK latency under other traffic: how long a small ADT^A04 waits for its ACK while
another client keeps the hub busy on another connection.

    python -m bench.mllp_latency [--quick] [--mib 4]

A running hub (embedded transport + SQLite, the MLLP listener and the FHIR API on loopback)
and one "victim" sender sending small ADT^A04 messages one after another on its own
connection. Measured for each load, the victim's ACK latency (p50, p99, max in ms):

- ``idle``: nothing else running;
- ``big_hl7``: another connection sends multi-MiB ADT^A04 frames (thousands of OBX
  segments, ``--mib`` each) one after another;
- ``escaped_hl7``: 3.7 MiB ADT^A04 frames whose OBX are full of escape sequences: seconds of
  reading and checking each (in a worker thread), two small events;
- ``heavy_hl7``: 4 MiB ADT^A04 frames with 9,000 NK1: seconds of mapping (in a worker
  thread), then one Patient event with 9,000 contacts for the transport and the sync engine;
- ``big_dft``: another connection sends DFT^P03 frames with thousands of FT1 segments (one
  charge event each, so mapping and publishing are heavy too);
- ``fhir_batch``: a FHIR client posts batch Bundles of searches (the FHIR API's own bound
  is another item; this only shows whether it delays MLLP ACKs).

The precise figure lives here; ``tests/hostile/test_mllp_connections.py`` asserts a generous
bound (under 1 s on a loaded test machine) that the multi-second stalls of issue 11 break.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from carehub.app.hub import Hub
from hub.config import parse_config

__all__ = ["ack_latency", "big_adt", "big_dft", "escaped_adt", "heavy_adt", "small_adt"]

_ENV = "CAREHUB_BENCH_MLLP_TOKEN"
_CONFIG = f"""
hub:
  namespace: benchmllp
  http: {{port: 0}}
systems:
  ehr:
    inbound:
      - {{type: mllp, name: adt, port: 0}}
      - {{type: fhir, client: app}}
    identifiers: {{patient: GOODHEALTH}}
clients:
  app: {{token_env: {_ENV}, scopes: ["system/*.cruds"], system: ehr}}
"""

_MSH = "MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128093000||{type}|{control}|P|2.5.1\r"
_PID = (
    "PID|1||{mrn}^^^GOODHEALTH&1.2.840.114350&ISO^MR||Okonkwo^Chidinma^A||19850214|F|||"
    "12 Harbour Rd^^Portland^ME^04101^USA^H\r"
)
_PV1 = "PV1|1|O|CLINIC^201^A^GOODHEALTH|||||||||||||||||V{visit}\r"


def small_adt(control: str) -> bytes:
    """A small ADT^A04 (about 300 bytes)."""
    return (
        _MSH.format(type="ADT^A04^ADT_A01", control=control)
        + "EVN|A04|20261128093000\r"
        + _PID.format(mrn=control)
        + _PV1.format(visit=control[-6:])
    ).encode()


def big_adt(control: str, mib: float) -> bytes:
    """An ADT^A04 of about ``mib`` MiB: thousands of OBX segments (within the default
    10,000-segment limit)."""
    head = small_adt(control).decode()
    segments = min(9_900, max(1, int(mib * 1024 * 1024 / 400)))
    width = max(16, int(mib * 1024 * 1024 / segments) - 60)
    obx = "".join(
        f"OBX|{i}|ST|8302-2^Height^LN||{'x' * width}||||||F\r" for i in range(1, segments + 1)
    )
    return (head + obx).encode()


def escaped_adt(control: str, notes: int = 4_500) -> bytes:
    """A multi-MiB ADT^A04 that is costly to read and check but maps to two small events:
    ``notes`` FT OBX segments full of escape sequences (``\\F\\``, ``\\X0D\\`` …), each of which
    is decoded and checked (4,500 notes: about 3.7 MiB and seconds of CPU)."""
    text = "a\\F\\b\\S\\c\\T\\d\\X0D\\e " * 40
    obx = "".join(f"OBX|{i}|FT|1^Note^L||{text}||||||F\r" for i in range(1, notes + 1))
    return (small_adt(control).decode() + obx).encode()


def heavy_adt(control: str, contacts: int = 9_000, note: int = 330) -> bytes:
    """A multi-MiB ADT^A04 that is costly to map, not only to read: ``contacts`` NK1
    segments (each a contact of the patient: 9,000 take seconds to map), each padded with a
    ``note``-byte field after the ones the mapping reads (about 4 MiB in all)."""
    pad = "n" * note
    nk1 = "".join(
        f"NK1|{i}|Doe^John{i}^^^^^L~Roe^Jane{i}|SPO^Spouse|1 Main St^^Town^ME^04101|"
        f"555-1212||||||||||||||||||||||||||||||||||||{pad}\r"
        for i in range(1, contacts + 1)
    )
    return (small_adt(control).decode() + nk1).encode()


def big_dft(control: str, charges: int) -> bytes:
    """A DFT^P03 with ``charges`` FT1 segments (one ``charge.posted`` event each)."""
    ft1 = "".join(
        f"FT1|{i}|T{control}-{i}||20261128|20261128|CG|99213^Office visit^CPT||"
        f"Office visit|1|125.00|125.00|CARDIO\r"
        for i in range(1, charges + 1)
    )
    return (
        _MSH.format(type="DFT^P03^DFT_P03", control=control)
        + "EVN|P03|20261128093000\r"
        + _PID.format(mrn=control)
        + _PV1.format(visit=control[-6:])
        + ft1
    ).encode()


def fhir_search_batch(searches: int) -> bytes:
    entries = [
        {"request": {"method": "GET", "url": f"Patient?family=Nobody{i}"}} for i in range(searches)
    ]
    return json.dumps({"resourceType": "Bundle", "type": "batch", "entry": entries}).encode()


async def mllp_exchange(port: int, payload: bytes, *, within: float = 120.0) -> bytes:
    """One framed message on a fresh connection; the first answer frame's payload."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"\x0b" + payload + b"\x1c\r")
        await writer.drain()
        async with asyncio.timeout(within):
            await reader.readuntil(b"\x0b")
            return (await reader.readuntil(b"\x1c"))[:-1]
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def victim(
    port: int, stop: asyncio.Event, *, prefix: str, pause: float = 0.02
) -> list[float]:
    """Small ADT^A04 on one connection, one at a time, until ``stop``; each ACK's latency."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    samples: list[float] = []
    try:
        i = 0
        while not stop.is_set():
            i += 1
            started = time.perf_counter()
            writer.write(b"\x0b" + small_adt(f"{prefix}{i:06d}") + b"\x1c\r")
            await writer.drain()
            await reader.readuntil(b"\x0b")
            answer = await reader.readuntil(b"\x1c")
            samples.append(time.perf_counter() - started)
            if b"MSA|AA|" not in answer:
                raise AssertionError("the small message was not accepted")
            await asyncio.sleep(pause)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {
        "n": len(ordered),
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


async def under_load(
    port: int, load: Callable[[], Awaitable[Any]], *, prefix: str, rounds: int
) -> dict[str, Any]:
    """The victim's latencies while ``load`` runs ``rounds`` times."""
    stop = asyncio.Event()
    task = asyncio.create_task(victim(port, stop, prefix=prefix))
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    try:
        for _ in range(rounds):
            await load()
    finally:
        busy = time.perf_counter() - started
        stop.set()
    result = summary(await task)
    result["load_s"] = round(busy, 2)
    return result


async def ack_latency(*, mib: float = 4.0, rounds: int = 3, charges: int = 5000) -> dict[str, Any]:
    """Every load's victim latencies (see the module docstring)."""
    os.environ.setdefault(_ENV, "bench-mllp-token")
    workdir = Path(tempfile.mkdtemp(prefix="carehub-bench-"))
    cfg = parse_config(_CONFIG, "<bench>").with_overrides(
        db_url=f"sqlite:///{workdir / 'bench.db'}"
    )
    results: dict[str, Any] = {"mib": mib, "charges": charges}
    try:
        async with Hub(cfg) as hub:
            assert hub.inbound is not None and hub.http is not None
            port = int(hub.inbound.find("ehr").server.port)
            base = f"http://127.0.0.1:{hub.http.port}"
            counter = iter(range(10**6))

            async def idle() -> None:
                await asyncio.sleep(2.0)

            async def hl7() -> None:
                answer = await mllp_exchange(port, big_adt(f"BIG{next(counter):05d}", mib))
                assert b"MSA|" in answer

            async def escaped() -> None:
                answer = await mllp_exchange(port, escaped_adt(f"ESC{next(counter):05d}"))
                assert b"MSA|" in answer

            async def heavy() -> None:
                answer = await mllp_exchange(port, heavy_adt(f"NK{next(counter):05d}"))
                assert b"MSA|" in answer

            async def dft() -> None:
                answer = await mllp_exchange(port, big_dft(f"DFT{next(counter):05d}", charges))
                assert b"MSA|" in answer

            async def fhir() -> None:
                headers = {
                    "Authorization": f"Bearer {os.environ[_ENV]}",
                    "Content-Type": "application/fhir+json",
                }
                async with (
                    aiohttp.ClientSession() as http,
                    http.post(f"{base}/fhir", data=fhir_search_batch(50), headers=headers) as r,
                ):
                    await r.read()

            big = big_adt("SIZE", mib)
            results["big_hl7_bytes"] = len(big)
            results["big_dft_bytes"] = len(big_dft("SIZE", charges))
            for name, load, n in (
                ("idle", idle, 1),
                ("big_hl7", hl7, rounds),
                ("escaped_hl7", escaped, rounds),
                ("heavy_hl7", heavy, rounds),
                ("big_dft", dft, rounds),
                ("fhir_batch", fhir, rounds),
            ):
                results[name] = await under_load(port, load, prefix=name[:3].upper(), rounds=n)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mllp_latency")
    parser.add_argument("--quick", action="store_true", help="one round of each load")
    parser.add_argument("--mib", type=float, default=4.0, help="size of the big HL7 frames")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else 3
    print(json.dumps(asyncio.run(ack_latency(mib=args.mib, rounds=rounds)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
