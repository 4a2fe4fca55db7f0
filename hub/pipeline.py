"""The inbound pipeline: parse → store raw → duplicate? → check → map → publish → answer.

The acknowledgement rule lives here: nothing is acknowledged to a sender before the raw
message is stored and its events are confirmed by the broker. Content errors are answered
and kept, never lost. The pipeline knows no wire format: each format plugs in as an
``InboundFormat`` (codec + checks + mapping + acknowledgement renderer), wired by carehub/app.
Judging a message (parse + identify, check, map, and the findings and outcome of each
failure) is ``hub.judge``, pure; the pipeline runs it between its I/O stages.
``InboundOutcome`` and ``MessageIdentity`` live there and are re-exported here.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from hub import ids
from hub.canonical import Event
from hub.canonical.packed import PackedEvents
from hub.context import MapContext, Vocabulary
from hub.envelope import Envelope
from hub.errors import CarehubError, StoreUnavailable, TransientError
from hub.faults import fault_point
from hub.findings import IssueType, Report, Severity
from hub.judge import (
    InboundOutcome,
    Judged,
    MessageIdentity,
    judge_parsed,
    read,
    unsupported,
)
from hub.ports import Store, Transport
from hub.records import MessageRecord, MessageStatus

__all__ = [
    "AnswersDuplicates",
    "FollowsUp",
    "InboundFormat",
    "InboundResult",
    "Pipeline",
    "RefusalAnswer",
]

log = logging.getLogger("carehub.pipeline")

N = TypeVar("N")
R = TypeVar("R")

#: messages larger than this are parsed and judged on a worker thread, not the event loop
OFFLOAD_BYTES = 256 * 1024
#: how many such messages one pipeline works on at once
OFFLOAD_SLOTS = 2
#: events published (and confirmed) at a time
PUBLISH_WINDOW = 64

N_contra = TypeVar("N_contra", contravariant=True)
#: the answer to a refused message, from its outcome and findings (``Pipeline.refuse``)
RefusalAnswer = Callable[["InboundOutcome", Report], bytes]


#: statuses whose answer is final, so a resend gets the same answer
_FINAL = (
    MessageStatus.ACCEPTED,
    MessageStatus.ERROR,
    MessageStatus.REJECTED,
    MessageStatus.UNSUPPORTED,
)


class InboundFormat(Judged[N], Protocol):
    """One wire format, as the pipeline sees it: what ``hub.judge`` reads, checks and maps,
    and how it is answered. Implementations live beside carehub/app."""

    def respond(
        self, native: N | None, raw: bytes, outcome: InboundOutcome, report: Report
    ) -> bytes | Awaitable[bytes]:
        """The answer to send back (ACK, 999/TA1, OperationOutcome); may be async."""
        ...


@runtime_checkable
class AnswersDuplicates(Protocol[N_contra]):
    """An ``InboundFormat`` that answers a duplicate itself instead of repeating the original
    answer byte for byte (X12: a fresh 999/TA1 with new control numbers)."""

    def duplicate_answer(self, native: N_contra, raw: bytes) -> bytes | Awaitable[bytes]: ...


@runtime_checkable
class FollowsUp(Protocol[N_contra]):
    """An ``InboundFormat`` with answers after the first (HL7 v2 enhanced mode's
    application ack after the commit ack)."""

    def followups(
        self, native: N_contra | None, raw: bytes, outcome: InboundOutcome, report: Report
    ) -> list[bytes]: ...


@dataclass(slots=True)
class InboundResult:
    outcome: InboundOutcome
    response: bytes
    message_id: str | None
    report: Report
    events: Sequence[Event] = field(default_factory=list)
    #: further answers after ``response`` (HL7 enhanced mode's application ack)
    followups: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class _Stage:
    """What is known about one message as it goes through the stages."""

    raw: bytes
    system: str
    port: str | None
    peer: str | None = None
    message_id: str | None = None
    native: Any = None
    identity: MessageIdentity | None = None
    report: Report = field(default_factory=Report)
    events: Sequence[Event] = field(default_factory=list)
    original: MessageRecord | None = None


class Pipeline:
    """Runs inbound messages through the stages and renders the answer."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        *,
        ingress_exchange: str,
        confirm_timeout: float = 10.0,
        vocab: Vocabulary | None = None,
        namespaces: Mapping[str, Mapping[str, str]] | None = None,
    ):
        self.store = store
        self.transport = transport
        self.ingress = ingress_exchange
        self.confirm_timeout = confirm_timeout
        self.vocab = vocab
        self.namespaces = namespaces or {}
        self._offload_slots = asyncio.Semaphore(OFFLOAD_SLOTS)

    async def receive(
        self,
        fmt: InboundFormat[Any],
        raw: bytes,
        *,
        system: str,
        port: str | None = None,
        peer: str | None = None,
    ) -> InboundResult:
        """Take one message from ``system`` and return the answer to send back."""
        st = _Stage(raw=raw, system=system, port=port, peer=peer)
        await self._heavy(st, self._parse, fmt, st)
        fault_point("before_store")
        try:
            await self._store_raw(fmt, st, peer)
        except StoreUnavailable:
            log.warning("store unavailable: refusing a %s message from %s", fmt.format, system)
            return self._unavailable(fmt, st, "the message store is unavailable")
        fault_point("after_store")
        outcome = await self._process(fmt, st)
        return await self._finish(fmt, st, outcome)

    async def refuse(
        self,
        format: str,
        raw: bytes,
        error: CarehubError,
        answer: RefusalAnswer,
        *,
        system: str,
        port: str | None = None,
        peer: str | None = None,
    ) -> InboundResult:
        """Keep a message refused before it could be parsed — over a size cap, not ended in
        time, the wrong content type — like any other: ``raw`` (what the transport holds, at
        most its cap) is stored as a rejected message with ``error`` as its finding, and
        ``answer(outcome, report)`` as its answer (``InboundOutcome.UNAVAILABLE`` when the store is
        down). Every port keeps its refusals through here."""
        return await self.receive(
            _Refused(format, error, answer), raw, system=system, port=port, peer=peer
        )

    # ------------------------------------------------------------------ stages

    def _parse(self, fmt: InboundFormat[Any], st: _Stage) -> None:
        """Parse before storing (no I/O), so the raw row carries the message's identity."""
        reading = read(fmt, st.raw, st.report)
        st.native, st.identity = reading.native, reading.identity
        if reading.failure is not None:
            # a codec bug must not lose the message: it is stored and refused
            log.error(
                "%s codec failed on a message from %s: %s",
                fmt.format,
                st.system,
                type(reading.failure).__name__,
            )
            st.report.add(
                Severity.FATAL,
                IssueType.EXCEPTION,
                "the message could not be read (internal error); it is kept",
                format_code="207",
            )

    async def _store_raw(self, fmt: InboundFormat[Any], st: _Stage, peer: str | None) -> None:
        """One transaction: the raw bytes, and the earlier message this one repeats."""
        ident = st.identity or MessageIdentity(None, None, None)
        async with self.store.unit() as unit:
            st.message_id = await unit.record_message(
                direction="in",
                system=st.system,
                port=st.port,
                format=fmt.format,
                raw=st.raw,
                peer=peer,
                message_key=ident.message_key,
                control_id=ident.control_id,
                dedup_key=ident.dedup_key,
            )
            if ident.dedup_key and st.report.ok:
                st.original = await unit.find_accepted_duplicate(st.system, ident.dedup_key, _FINAL)

    async def _process(self, fmt: InboundFormat[Any], st: _Stage) -> InboundOutcome:
        if not st.report.ok:
            return InboundOutcome.REJECTED
        if st.original is not None and st.original.ack is not None:
            st.report.info(
                IssueType.DUPLICATE,
                f"duplicate of message {st.original.id}; original "
                "answer repeated, not published again",
            )
            return InboundOutcome.DUPLICATE
        ctx = self._context(fmt, st)
        verdict = await self._heavy(st, judge_parsed, fmt, st.native, ctx, st.report)
        st.events = verdict.events
        if verdict.outcome is not InboundOutcome.ACCEPTED:
            return verdict.outcome
        return await self._publish(fmt, st)

    async def _publish(self, fmt: InboundFormat[Any], st: _Stage) -> InboundOutcome:
        dedup_key = st.identity.dedup_key if st.identity else None
        basis = ids.event_basis(st.system, dedup_key, str(st.message_id))
        try:
            # a window at a time: a file of 18,000 claims never holds 18,000 envelopes
            for start in range(0, len(st.events), PUBLISH_WINDOW):
                envelopes = await self._heavy(st, self._window, fmt, st, basis, start)
                await asyncio.gather(
                    *(
                        self.transport.publish(
                            self.ingress, env.routing_key, env, timeout=self.confirm_timeout
                        )
                        for env in envelopes
                    )
                )
        except TransientError as exc:
            log.warning("broker did not confirm message %s: %s", st.message_id, type(exc).__name__)
            st.report.add(
                Severity.ERROR,
                IssueType.TRANSIENT,
                "events could not be confirmed by the broker; not accepted, send again later",
                format_code="207",
            )
            return InboundOutcome.UNAVAILABLE
        fault_point("after_confirm")
        return InboundOutcome.ACCEPTED

    async def _heavy(self, st: _Stage, work: Callable[..., R], *args: Any) -> R:
        """``work(*args)`` — parsing or judging, pure CPU — on a worker thread for a message
        over ``OFFLOAD_BYTES`` (two at a time per pipeline), inline for the small ones: an
        8 MB X12 file does not hold up the MLLP ACKs of other senders."""
        if len(st.raw) <= OFFLOAD_BYTES:
            return work(*args)
        async with self._offload_slots:
            return await asyncio.to_thread(work, *args)

    def _window(
        self, fmt: InboundFormat[Any], st: _Stage, basis: str, start: int
    ) -> list[Envelope]:
        """The envelopes of events ``start`` … ``start + PUBLISH_WINDOW`` (packed events
        are unpacked here: on a worker thread for a large message)."""
        window = st.events[start : start + PUBLISH_WINDOW]
        envelopes = [self._envelope(fmt, st, ev, basis, start + i) for i, ev in enumerate(window)]
        if isinstance(st.events, PackedEvents):  # the unpacked copies got the ids: keep them
            for i, env in enumerate(envelopes):
                st.events.assign_id(start + i, env.id)
        return envelopes

    def _envelope(
        self, fmt: InboundFormat[Any], st: _Stage, event: Event, basis: str, index: int
    ) -> Envelope:
        # the one place an inbound event gets its id (set on the event itself: the FHIR
        # API waits for the sync engine to apply it under this id)
        event.id = ids.event_id(basis, index)
        ident = st.identity
        return Envelope(
            id=event.id,
            correlation_id=st.message_id,
            source_system=st.system,
            source_port=st.port,
            format=fmt.format,
            message_key=ident.message_key if ident else None,
            raw_ref=st.message_id,
            payload=event,
        )

    def _context(self, fmt: InboundFormat[Any], st: _Stage) -> MapContext:
        ctx = MapContext(
            source_system=st.system,
            format=fmt.format,
            source_port=st.port,
            message_id=st.message_id,
            received_at=datetime.now(UTC),
            namespaces=self.namespaces.get(st.system, {}),
        )
        # without a vocabulary of its own, the pipeline leaves MapContext's default
        return ctx if self.vocab is None else replace(ctx, vocab=self.vocab)

    # ------------------------------------------------------------------ answer

    async def _finish(
        self, fmt: InboundFormat[Any], st: _Stage, outcome: InboundOutcome
    ) -> InboundResult:
        followups: list[bytes] = []
        if outcome is InboundOutcome.DUPLICATE and isinstance(fmt, AnswersDuplicates):
            response = await _resolve(fmt.duplicate_answer(st.native, st.raw))
        elif outcome is InboundOutcome.DUPLICATE:
            assert st.original is not None and st.original.ack is not None
            response = st.original.ack  # the original answer, byte for byte
        else:
            response = await _resolve(fmt.respond(st.native, st.raw, outcome, st.report))
            if isinstance(fmt, FollowsUp):
                followups = fmt.followups(st.native, st.raw, outcome, st.report)
        ident = st.identity or MessageIdentity(None, None, None)
        fields: dict[str, Any] = dict(
            status=_status(outcome, st.report),
            message_key=ident.message_key,
            control_id=ident.control_id,
            dedup_key=ident.dedup_key,
            findings=st.report.as_list(),
            ack=response,
            event_count=len(st.events),
        )
        if outcome is InboundOutcome.DUPLICATE and st.original is not None:
            fields["duplicate_of"] = st.original.id
        assert st.message_id is not None
        try:
            async with self.store.unit() as unit:
                await unit.update_message(st.message_id, **fields)
                await unit.audit(
                    actor=st.system,
                    action="received",
                    outcome=fields["status"],
                    subject=f"message:{st.message_id}",
                    peer=st.peer or st.port,
                    detail=f"port {st.port}" if st.port else None,
                )
        except StoreUnavailable:
            if outcome in (InboundOutcome.ACCEPTED, InboundOutcome.DUPLICATE):
                # the events are confirmed, but the answer is not on record: refuse, so the
                # sender resends; the same event ids make the resend harmless downstream
                return self._unavailable(fmt, st, "the message store is unavailable")
        return InboundResult(outcome, response, st.message_id, st.report, st.events, followups)

    def _unavailable(self, fmt: InboundFormat[Any], st: _Stage, text: str) -> InboundResult:
        report = Report()
        report.add(
            Severity.ERROR,
            IssueType.TRANSIENT,
            f"{text}; not accepted, send again later",
            format_code="207",
        )
        native = st.native
        if native is None:
            try:
                native = fmt.parse(st.raw)
            except CarehubError:
                native = None
        answer = fmt.respond(native, st.raw, InboundOutcome.UNAVAILABLE, report)
        if inspect.iscoroutine(answer):  # async renderers answer an outage with nothing
            answer.close()
        response = answer if isinstance(answer, bytes) else b""
        return InboundResult(InboundOutcome.UNAVAILABLE, response, st.message_id, report)


class _Refused:
    """The ``InboundFormat`` of a refused message: its parse raises the refusal, so the
    pipeline stores it and answers it as unreadable."""

    def __init__(self, format: str, error: CarehubError, answer: RefusalAnswer):
        self.format = format
        self.error = error
        self.answer = answer

    def parse(self, raw: bytes) -> Any:
        raise self.error

    def identify(self, native: Any) -> MessageIdentity:
        raise AssertionError("a refused message is never parsed")

    def check(self, native: Any) -> Report:
        raise AssertionError("a refused message is never parsed")

    def map(self, native: Any, ctx: MapContext) -> list[Event]:
        raise AssertionError("a refused message is never parsed")

    def respond(self, native: Any, raw: bytes, outcome: InboundOutcome, report: Report) -> bytes:
        return self.answer(outcome, report)


async def _resolve(value: bytes | Awaitable[bytes]) -> bytes:
    """A renderer may be plain or async (X12 allocates control numbers in the store)."""
    return await value if inspect.isawaitable(value) else value


def _status(outcome: InboundOutcome, report: Report) -> MessageStatus:
    """``messages.status`` for an answered message: its outcome, and a rejected message of a
    kind the hub does not take is ``unsupported``."""
    if outcome is InboundOutcome.REJECTED and unsupported(report):
        return MessageStatus.UNSUPPORTED
    return MessageStatus(outcome.value)
