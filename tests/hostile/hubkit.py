"""One hub for the hostile-input tests, started in-process with small limits so every
refusal happens fast: MLLP (64 KiB frames, 1 s per frame), the FHIR API (256 KiB bodies,
20 Bundle entries), and X12 over HTTP. Embedded transport, SQLite in the test's folder."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from adapters.hl7v2 import parse
from carehub.app.hub import Hub
from hub.config import parse_config
from hub.records import MessageRecord

MAX_FRAME = 64 * 1024
FRAME_TIMEOUT = 1.0
MAX_BODY = 256 * 1024
MAX_ENTRIES = 20
FHIR_TOKEN = "hostile-fhir-token"
X12_TOKEN = "hostile-x12-token"

CONFIG = f"""
hub:
  namespace: hostile
  http: {{port: 0, max_body_bytes: {MAX_BODY}, max_bundle_entries: {MAX_ENTRIES}}}
systems:
  ehr:
    inbound:
      - {{type: mllp, name: adt, port: 0, max_frame_bytes: {MAX_FRAME},
         frame_timeout: {FRAME_TIMEOUT}, idle_timeout: 5}}
      - {{type: fhir, client: app}}
    identifiers: {{patient: GOODHEALTH}}
  payer:
    inbound: [{{type: x12-http, name: edi, client: gw}}]
clients:
  app: {{token_env: HOSTILE_FHIR_TOKEN, scopes: ["system/*.cruds"], system: ehr}}
  gw: {{token_env: HOSTILE_X12_TOKEN, scopes: [], system: payer}}
"""


@asynccontextmanager
async def running_hub(folder: Path, monkeypatch: Any) -> AsyncIterator[Hub]:
    monkeypatch.setenv("HOSTILE_FHIR_TOKEN", FHIR_TOKEN)
    monkeypatch.setenv("HOSTILE_X12_TOKEN", X12_TOKEN)
    cfg = parse_config(CONFIG).with_overrides(db_url=f"sqlite:///{folder / 'hostile.db'}")
    async with Hub(cfg) as hub:
        yield hub


def mllp_port(hub: Hub) -> int:
    assert hub.inbound is not None
    return int(hub.inbound.find("ehr").server.port)


def http_base(hub: Hub) -> str:
    assert hub.http is not None
    return f"http://127.0.0.1:{hub.http.port}"


async def raw_exchange(
    hub: Hub,
    data: bytes,
    *,
    read_for: float = 5.0,
    chunk_delay: float | None = None,
    until_frame: bool = False,
) -> bytes:
    """Send ``data`` over a plain TCP socket to the MLLP port (optionally dribbled one byte
    every ``chunk_delay`` seconds) and collect what comes back until the hub closes the
    connection or ``read_for`` seconds pass after the last byte sent (or the first answer
    arrives while still dribbling; with ``until_frame``, as soon as one whole frame is in)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", mllp_port(hub))
    got = bytearray()
    closed = asyncio.Event()

    async def collect() -> None:
        try:
            while chunk := await reader.read(65536):
                got.extend(chunk)
                if until_frame and b"\x1c" in got:
                    break
        except ConnectionError:
            pass
        closed.set()

    reading = asyncio.create_task(collect())
    try:
        if chunk_delay is None:
            writer.write(data)
            await writer.drain()
        else:
            for i in range(len(data)):
                if got or closed.is_set():
                    break
                writer.write(data[i : i + 1])
                await writer.drain()
                await asyncio.sleep(chunk_delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed.wait(), read_for)
        return bytes(got)
    finally:
        reading.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def frame_exchange(
    port: int, payload: bytes, *, within: float = 5.0, source: str = "127.0.0.1"
) -> bytes:
    """Send one framed message on a fresh connection (from ``source``, a loopback address
    standing for a peer) and return the first answer frame's payload."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
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


async def ack_exchange(hub: Hub, payload: bytes, *, within: float = 5.0) -> bytes:
    """Send one framed message to the hub's MLLP port; the first answer frame's payload."""
    return await frame_exchange(mllp_port(hub), payload, within=within)


def unframe(data: bytes) -> list[bytes]:
    """The payloads of MLLP frames in ``data``."""
    out = []
    while b"\x0b" in data and b"\x1c" in data:
        start = data.index(b"\x0b")
        end = data.index(b"\x1c", start)
        out.append(data[start + 1 : end])
        data = data[end + 1 :]
    return out


async def find_raw(
    hub: Hub, match: Callable[[MessageRecord], bool], *, within: float = 5.0
) -> MessageRecord:
    """The inbound message in the store's raw log that ``match`` picks (waits a little: some
    refusals are stored after the answer is sent)."""
    assert hub.store is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        for record in await hub.store.list_messages(direction="in", limit=1000):
            if match(record):
                return record
        if loop.time() > deadline:
            raise AssertionError("the raw input is not in the message log")
        await asyncio.sleep(0.05)


async def post(
    hub: Hub,
    path: str,
    body: bytes,
    *,
    token: str,
    content_type: str = "application/fhir+json",
) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{http_base(hub)}{path}", data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.read(), dict(resp.headers)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def ack_latencies(
    hub: Hub, until: asyncio.Future[Any], make: Callable[[int], bytes], *, within: float = 30
) -> list[float]:
    """MLLP messages ``make(1)``, ``make(2)``… one after another while ``until`` runs, each
    to be answered AA; for each, the time since the one before came back (or since the
    start): a loop held up anywhere shows, not only while an ACK is in flight (the tests
    share the hub's event loop)."""
    took: list[float] = []
    n = 0
    last = time.monotonic()
    while not until.done():
        n += 1
        ack = parse(await ack_exchange(hub, make(n), within=within))
        now = time.monotonic()
        took.append(now - last)
        last = now
        assert ack["MSA-1"] == "AA"
        await asyncio.sleep(0.02)
    return took
