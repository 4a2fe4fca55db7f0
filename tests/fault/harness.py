"""The fault suite's moving parts: the hub as a subprocess, MLLP senders that resend until
they get an AA, and the per-test summary and invariants.

Every HL7 v2 message here is synthetic (made-up names and numbers); logs and summaries carry
counts and control ids only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from hub.errors import CarehubError, ParseError
from tests.fault.sinks import RecordingMllpSink, RecordingSink

Sink = RecordingSink | RecordingMllpSink

__all__ = [
    "FULL",
    "HubProcess",
    "Message",
    "Senders",
    "Summary",
    "hub_config",
    "make_messages",
    "size",
    "wait_until",
]

#: CAREHUB_FAULT_FULL=1: the issue's full sizes (10,000 messages, 20 rounds, a minute down)
FULL = os.environ.get("CAREHUB_FAULT_FULL") == "1"


def size(default: int | float, full: int | float) -> int | float:
    return full if FULL else default


@dataclass(frozen=True, slots=True)
class Message:
    control_id: str
    mrn: str
    raw: bytes


def make_messages(tag: str, count: int) -> list[Message]:
    """ADT^A04 registrations of invented people, one new MRN and MSH-10 each."""
    out = []
    for n in range(count):
        control = f"{tag}-{n:06d}"
        mrn = f"{tag}{n:06d}"
        raw = (
            f"MSH|^~\\&|FAULTGEN|FAULTHOSP|CAREHUB|HUB|20261128093000||ADT^A04^ADT_A01|{control}"
            f"|P|2.5.1\r"
            f"EVN|A04|20261128093000\r"
            f"PID|1||{mrn}^^^FAULTHOSP^MR||Testperson^Case{n}||19800101|F|||"
            f"1 Test St^^Springfield^IL^62701^USA^H\r"
            f"PV1|1|O|CLINIC^101^A^FAULTHOSP\r"
        ).encode()
        out.append(Message(control, mrn, raw))
    return out


def hub_config(
    *,
    mllp_port: int,
    amqp_url: str,
    db_url: str,
    sinks: Iterable[Sink],
    namespace: str = "fault",
    retry_delays: Iterable[float] = (0.5, 1, 2, 4),
    confirm_timeout: float = 3,
    delivery_timeout: float = 5,
) -> str:
    delays = ", ".join(str(d) for d in retry_delays)
    text = f"""hub:
  name: fault
  namespace: {namespace}
  db_url: "{db_url}"
  amqp_url: "{amqp_url}"
  confirm_timeout: {confirm_timeout}
  retry_delays: [{delays}]
  log_level: INFO
systems:
  ehr:
    inbound: [{{type: mllp, name: adt, host: 127.0.0.1, port: {mllp_port}}}]
    identifiers: {{patient: FAULTHOSP}}
"""
    for sink in sinks:
        if isinstance(sink, RecordingMllpSink):
            outbound = (
                f"{{type: mllp, host: 127.0.0.1, port: {sink.port}, timeout: {delivery_timeout}}}"
            )
        else:
            outbound = f'{{type: fhir, url: "{sink.url}", timeout: {delivery_timeout}}}'
        text += f"""  {sink.name}:
    outbound: {outbound}
    subscribes: ["patient.*"]
"""
    return text


class HubProcess:
    """``carehub run --config FILE`` as a child process of ours (own session)."""

    def __init__(self, workdir: Path, config_text: str, mllp_port: int) -> None:
        self.workdir = workdir
        self.config = workdir / "hub.yaml"
        self.config.write_text(config_text)
        self.log = workdir / "hub.log"
        self.mllp_port = mllp_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.deaths: list[int] = []

    def start(self, fault: str | None = None) -> None:
        assert self.proc is None or self.proc.poll() is not None, "hub already running"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAREHUB_")}
        if fault:
            env["CAREHUB_FAULT_AT"] = fault
        exe = Path(sys.executable).with_name("carehub")
        with self.log.open("ab") as out:
            out.write(f"---- start {self.starts} fault={fault}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [str(exe), "run", "--config", str(self.config)],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    async def wait_listening(self, timeout: float = 60, *, may_die: bool = False) -> None:
        """Until the MLLP port answers; with ``may_die`` a hub killed by its fault point
        meanwhile also ends the wait (it may get there before we look)."""

        async def listening() -> bool:
            if not self.alive and may_die and self.returncode == -signal.SIGKILL:
                return True
            if not self.alive:
                raise AssertionError(f"hub exited at start (rc {self.returncode}); see {self.log}")
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.mllp_port)
            except OSError:
                return False
            w.close()
            return True

        await wait_until(listening, timeout, "hub MLLP port listening")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (clean stop), SIGKILL if it does not end in time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_count(self, text: str) -> int:
        try:
            data = self.log.read_text(errors="replace")
        except OSError:
            return 0
        return data.count(text)


@dataclass
class SenderStats:
    attempts: int = 0
    #: control id → MRN, for messages answered AA/CA
    acked: dict[str, str] = field(default_factory=dict)
    #: AR/AE answers (the hub said "send again later")
    refused: int = 0
    #: no answer in time, refused connections, resets
    no_answer: int = 0
    gave_up: list[str] = field(default_factory=list)
    #: (monotonic time, control id) of every AA, for "when was it acknowledged" questions
    ack_times: list[tuple[float, str]] = field(default_factory=list)


class Senders:
    """``count`` real MLLP senders sharing one list of messages (split round-robin). Each
    sends one message at a time and resends it — same bytes, same MSH-10 — until AA/CA."""

    def __init__(
        self,
        port: int,
        messages: list[Message],
        count: int = 4,
        *,
        ack_timeout: float = 10,
        pause: float = 0.2,
        deadline: float = 600,
    ) -> None:
        self.port = port
        self.messages = messages
        self.count = count
        self.ack_timeout = ack_timeout
        self.pause = pause
        self.deadline = deadline
        self.stats = SenderStats()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def acked(self) -> dict[str, str]:
        return self.stats.acked

    def start(self) -> None:
        stop_at = time.monotonic() + self.deadline
        self._tasks = [
            asyncio.create_task(self._run(self.messages[i :: self.count], stop_at))
            for i in range(self.count)
        ]

    async def wait(self) -> None:
        await asyncio.gather(*self._tasks)

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, messages: list[Message], stop_at: float) -> None:
        client = MllpClient("127.0.0.1", self.port, timeout=self.ack_timeout)
        try:
            for msg in messages:
                while not await self._send_once(client, msg):
                    if time.monotonic() > stop_at:
                        self.stats.gave_up.append(msg.control_id)
                        break
                    await client.close()
                    await asyncio.sleep(self.pause)
        finally:
            await client.close()

    async def _send_once(self, client: MllpClient, msg: Message) -> bool:
        self.stats.attempts += 1
        try:
            frame = await client.send(msg.raw)
            ack = parse(frame)
        except (CarehubError, ParseError, OSError):
            self.stats.no_answer += 1
            return False
        if ack.get("MSA-2") != msg.control_id:
            self.stats.no_answer += 1
            return False
        if ack.get("MSA-1") in ("AA", "CA"):
            self.stats.acked[msg.control_id] = msg.mrn
            self.stats.ack_times.append((time.monotonic(), msg.control_id))
            return True
        self.stats.refused += 1
        return False


async def wait_until(
    check: Callable[[], bool] | Callable[[], object],
    timeout: float,
    what: str,
    interval: float = 0.2,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for: {what}")
        await asyncio.sleep(interval)


@dataclass
class Summary:
    """The per-test line printed with ``-s``, and the invariants checked on it."""

    test: str
    sent: int
    acked: int
    sinks: list[Sink]
    acked_mrns: set[str]
    redeliveries_hub: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def lost(self) -> dict[str, int]:
        return {s.name: len(self.acked_mrns - set(s.applied)) for s in self.sinks}

    def delivered(self) -> dict[str, int]:
        return {s.name: len(self.acked_mrns & set(s.applied)) for s in self.sinks}

    def duplicates(self) -> dict[str, int]:
        return {s.name: s.duplicates_applied() for s in self.sinks}

    def line(self) -> str:
        copies = sum(s.copies for s in self.sinks)
        extra = "".join(f" {k}={v}" for k, v in self.extra.items())
        return (
            f"FAULT {self.test}: sent={self.sent} acked={self.acked}"
            f" delivered={self.delivered()} lost={sum(self.lost().values())}"
            f" duplicates_applied={sum(self.duplicates().values())}"
            f" redeliveries(sink copies={copies}, hub skipped={self.redeliveries_hub}){extra}"
        )

    def check(self) -> None:
        print(self.line())
        assert self.lost() == {s.name: 0 for s in self.sinks}, self.line()
        assert self.duplicates() == {s.name: 0 for s in self.sinks}, self.line()
        assert all(s.without_key == 0 for s in self.sinks), "a delivery came without a key"


def all_delivered(sinks: Iterable[Sink], mrns: set[str]) -> Callable[[], bool]:
    sinks = list(sinks)
    return lambda: all(mrns <= set(s.applied) for s in sinks)


@contextlib.asynccontextmanager
async def running_sinks(*sinks: Sink) -> AsyncIterator[tuple[Sink, ...]]:
    for s in sinks:
        await s.start()
    try:
        yield sinks
    finally:
        for s in sinks:
            await s.stop()


def hub_redeliveries(hub: HubProcess) -> int:
    """Deliveries the hub recognised as done before (broker redeliveries it skipped)."""
    return hub.log_count("already delivered") + hub.log_count("already applied")


@dataclass(frozen=True, slots=True)
class ParkedCopy:
    routing_key: str
    headers: dict[str, object]
    body: bytes


def broker_look(
    url: str, queues: Iterable[str], peek: str | None = None
) -> tuple[dict[str, int], list[ParkedCopy]]:
    """Depth of each queue (passive declare), and the messages of ``peek`` read without
    removing them (``basic.get`` unacked, handed back when the channel closes). Blocking:
    call through ``asyncio.to_thread``."""
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ch = conn.channel()
        depths = {q: ch.queue_declare(q, passive=True).method.message_count for q in queues}
        seen: list[ParkedCopy] = []
        if peek is not None:
            while True:
                method, props, body = ch.basic_get(peek, auto_ack=False)
                if method is None:
                    break
                headers = {
                    k: (v.decode() if isinstance(v, bytes) else v)
                    for k, v in (props.headers or {}).items()
                }
                seen.append(ParkedCopy(method.routing_key, headers, body))
        ch.close()
    finally:
        conn.close()
    return depths, seen
