"""The inbound pipeline: parse → store raw → duplicate? → check → map → publish → answer.

A duplicate is the same sender, the same de-duplication key (HL7: MSH-3|MSH-4|MSH-10) and
the same content (``MessageIdentity.digest``: framing and line-ending style left out): it
gets the original answer and is not published again. The same key with different content
is another message under a reused control id — never answered with the earlier message's
answer: it is processed as new with a warning (ERR-3 205, severity W), or, on a port set
to ``reused_control_id: reject``, refused (AR 205).

Pass-through (``hub.passthru``): a message whose format names a raw routing key
(``RoutesRaw``: HL7 v2's ``hl7v2.ORU.R01``) and that another system subscribes to raw is
also published once, as it came, as a ``RawEnvelope`` to the raw exchange, confirmed before
the answer like its events. A message the canonical model does not map is then accepted
for its raw subscribers alone, instead of being refused as unsupported.

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
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from hub import ids
from hub.canonical import EntityType, Event
from hub.canonical.packed import PackedEvents
from hub.context import MapContext, Vocabulary
from hub.envelope import Envelope, RawEnvelope
from hub.errors import CarehubError, StoreUnavailable, TransientError
from hub.faults import fault_point
from hub.findings import Finding, IssueType, Report, Severity
from hub.judge import (
    InboundOutcome,
    Judged,
    MessageIdentity,
    ReusedControlId,
    judge_parsed,
    read,
    unsupported,
)
from hub.passthru import RawRoutes
from hub.ports import Store, Transport, Unit
from hub.records import MessageRecord, MessageStatus
from hub.sync.state import refs_in

__all__ = [
    "OFFLOAD_BYTES",
    "AnswersDuplicates",
    "FollowsUp",
    "InboundFormat",
    "InboundResult",
    "Pipeline",
    "RefusalAnswer",
    "RoutesRaw",
]

log = logging.getLogger("carehub.pipeline")

N = TypeVar("N")
T = TypeVar("T")
N_contra = TypeVar("N_contra", contravariant=True)
#: the answer to a refused message, from its outcome and findings (``Pipeline.refuse``)
RefusalAnswer = Callable[["InboundOutcome", Report], bytes]


#: a message at least this big is read, checked and mapped in a worker thread, so the event
#: loop keeps answering other connections meanwhile (a 5,000-charge DFT maps for over a second;
#: a small ADT reads and maps in well under a millisecond, where a thread hop costs more)
OFFLOAD_BYTES = 16 * 1024
#: the worker threads, process-wide and bounded: big messages queue for them instead of
#: each taking a thread (and the CPU) of its own
_judging = ThreadPoolExecutor(max_workers=2, thread_name_prefix="carehub-judge")

#: the events of one message published (and confirmed) at a time
PUBLISH_SLICE = 64

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


@runtime_checkable
class RoutesRaw(Protocol[N_contra]):
    """An ``InboundFormat`` whose messages can be passed through raw (``hub.passthru``)."""

    def raw_key(self, native: N_contra) -> str | None:
        """The message's raw routing key (``hl7v2.ORU.R01``), or None."""
        ...

    def unmapped(self, finding: Finding) -> bool:
        """Whether ``finding`` says no more than that the hub does not map this type of
        message (HL7 v2: ERR-3 200/201), so raw subscribers may still take it."""
        ...


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
    #: an earlier message under the same key with different content (a reused control id)
    reused: MessageRecord | None = None
    reused_control_id: ReusedControlId = ReusedControlId.PROCESS
    #: the patient each event is about (``Envelope.subject``), once worked out: by index
    subjects: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: its raw routing key, and the systems that take it raw (the sender left out)
    raw_key: str | None = None
    raw_targets: list[str] = field(default_factory=list)


#: ``Envelope.subject`` of an event of a message about several patients whose patient
#: reference names none of them, or several: the sync engine holds it (``unmatched``)
_UNMATCHED = "its patient reference names none or several of the message's patients"


def _subjects(events: Sequence[Event]) -> dict[int, dict[str, Any]]:
    """The patient each event of a message is about (``Envelope.subject``), by event index:
    its identifiers and identity facts. A message about one patient (an ADT's PID): every
    other event gets that patient's. A message about several (an ORU with two
    PATIENT_RESULT groups): each event that refers to a patient gets the patient event whose
    identifiers its patient reference carries; one whose reference matches none of them,
    or several, gets an ``unmatched`` subject (held by the sync engine, never linked
    unchecked). None for a packed batch or a message of one event; the patient events
    themselves get none."""
    if isinstance(events, PackedEvents) or len(events) < 2:
        return {}
    found = [i for i, e in enumerate(events) if e.entity.entity_type == EntityType.PATIENT]
    facts = {i: _facts(events[i]) for i in found}
    if len(found) == 1:
        (at,) = found
        if not facts[at].get("identifiers"):
            return {}
        return {i: facts[at] for i in range(len(events)) if i != at}
    subjects: dict[int, dict[str, Any]] = {}
    for i, event in enumerate(events):
        if i in facts:
            continue
        refs = [
            ref
            for _, ref in refs_in(event.entity.model_dump(mode="json", exclude_none=True))
            if ref.get("type") == EntityType.PATIENT.value
        ]
        if not refs:
            continue  # about no patient (a practitioner, a location)
        keys = {_key(x) for ref in refs for x in ref.get("identifiers", [])}
        mine = [at for at in found if keys & {_key(x) for x in facts[at].get("identifiers", [])}]
        if len(mine) == 1 and facts[mine[0]].get("identifiers"):
            subjects[i] = facts[mine[0]]
        else:
            subjects[i] = {"identifiers": [], "unmatched": _UNMATCHED}
    return subjects


def _facts(event: Event) -> dict[str, Any]:
    """A patient event's identifiers and identity facts (first name, birth date, sex)."""
    patient = event.entity.model_dump(mode="json", exclude_none=True)
    facts = {k: patient[k] for k in ("identifiers", "birth_date", "sex") if patient.get(k)}
    facts["names"] = patient.get("names", [])[:1]
    return facts


def _key(identifier: dict[str, Any]) -> tuple[str, str]:
    return (str(identifier.get("system") or ""), str(identifier.get("value") or ""))


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
        offload_bytes: int = OFFLOAD_BYTES,
        raw_exchange: str | None = None,
        raw_routes: RawRoutes | None = None,
    ):
        self.store = store
        self.transport = transport
        self.ingress = ingress_exchange
        self.confirm_timeout = confirm_timeout
        self.vocab = vocab
        self.namespaces = namespaces or {}
        self.offload_bytes = offload_bytes
        #: pass-through: where raw messages go, and who takes which (``hub.passthru``)
        self.raw_exchange = raw_exchange
        self.raw_routes = raw_routes or RawRoutes()

    async def receive(
        self,
        fmt: InboundFormat[Any],
        raw: bytes,
        *,
        system: str,
        port: str | None = None,
        peer: str | None = None,
        reused_control_id: ReusedControlId = ReusedControlId.PROCESS,
    ) -> InboundResult:
        """Take one message from ``system`` and return the answer to send back;
        ``reused_control_id`` says what the port does with another message under a key seen
        before (see the module docstring)."""
        st = _Stage(raw=raw, system=system, port=port, peer=peer)
        st.reused_control_id = reused_control_id
        await self._parse(fmt, st)
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

    async def _cpu(self, st: _Stage, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``: inline for a small message, in a worker thread for a big one. The
        stage's report is only touched by that one call meanwhile."""
        if len(st.raw) < self.offload_bytes:
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_judging, functools.partial(fn, *args))

    async def _parse(self, fmt: InboundFormat[Any], st: _Stage) -> None:
        """Parse before storing (no I/O), so the raw row carries the message's identity."""
        reading = await self._cpu(st, read, fmt, st.raw, st.report)
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
                digest=ident.digest,
            )
            if ident.dedup_key and st.report.ok:
                await self._find_earlier(fmt, unit, st, ident.dedup_key, ident.digest)

    async def _find_earlier(
        self,
        fmt: InboundFormat[Any],
        unit: Unit,
        st: _Stage,
        key: str,
        digest: str | None,
    ) -> None:
        """The earlier message this one repeats (same key, same content), or else the earlier
        message under the same key with other content. A row stored before schema 3 has no
        digest: its own is computed from its raw bytes."""
        earlier = await unit.find_accepted_duplicate(st.system, key, _FINAL, digest=digest)
        if earlier is None:
            return
        if digest is None or _digest_of(fmt, earlier) == digest:
            st.original = earlier  # a format without digests: the key alone, as before
        else:
            st.reused = earlier

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
        if st.reused is not None and not self._reused(st):
            return InboundOutcome.REJECTED
        ctx = self._context(fmt, st)
        verdict = await self._cpu(st, judge_parsed, fmt, st.native, ctx, st.report)
        st.events = verdict.events
        self._raw_targets(fmt, st)
        if verdict.outcome is InboundOutcome.REJECTED and self._raw_only(fmt, st):
            st.events = []
        elif verdict.outcome is not InboundOutcome.ACCEPTED:
            return verdict.outcome
        return await self._publish(fmt, st)

    def _raw_targets(self, fmt: InboundFormat[Any], st: _Stage) -> None:
        """The message's raw key and the systems that take it raw, if any."""
        if not self.raw_routes or self.raw_exchange is None or not isinstance(fmt, RoutesRaw):
            return
        st.raw_key = fmt.raw_key(st.native)
        if st.raw_key is not None:
            st.raw_targets = self.raw_routes.subscribers(st.raw_key, st.system)

    def _raw_only(self, fmt: InboundFormat[Any], st: _Stage) -> bool:
        """A message refused only because the hub does not map its type is taken for its
        raw subscribers: those findings become one note saying where it goes."""
        if not st.raw_targets or not isinstance(fmt, RoutesRaw):
            return False
        errors = st.report.errors
        if not errors or not all(fmt.unmapped(f) for f in errors):
            return False
        st.report.findings = [f for f in st.report.findings if f not in errors]
        st.report.info(
            IssueType.INFORMATIONAL,
            f"not mapped to canonical events; passed through as {st.raw_key} to "
            f"{len(st.raw_targets)} subscribing system(s)",
        )
        return True

    def _reused(self, st: _Stage) -> bool:
        """A reused key with other content: a warning, processed as new (``True``), or on a
        port that rejects reused control ids an error that refuses it (``False``)."""
        assert st.reused is not None and st.identity is not None
        control, where = st.identity.control_id, st.identity.control_location
        log.warning(
            "message %s from %s reuses the control id of message %s with other content (%s)",
            st.message_id,
            st.system,
            st.reused.id,
            st.reused_control_id.value,
        )
        if st.reused_control_id is ReusedControlId.REJECT:
            st.report.error(
                IssueType.DUPLICATE,
                f"control id {control} was already used by message {st.reused.id} with other "
                "content; this port rejects reused control ids: send it with a new control id",
                where,
                format_code="205",
            )
            return False
        st.report.warning(
            IssueType.DUPLICATE,
            f"control id {control} was already used by message {st.reused.id} with other "
            "content; processed as a new message",
            where,
            format_code="205",
        )
        return True

    async def _publish(self, fmt: InboundFormat[Any], st: _Stage) -> InboundOutcome:
        ident = st.identity
        dedup_key, digest = (ident.dedup_key, ident.digest) if ident else (None, None)
        basis = ids.event_basis(st.system, dedup_key, str(st.message_id), digest)
        st.subjects = _subjects(st.events)
        try:
            # a slice at a time: a gather of 5,000 publishes runs all their first steps
            # (serialise, send) in one turn of the event loop, seconds in which no other sender
            # is read; and a file of 18,000 claims never holds 18,000 envelopes
            for start in range(0, len(st.events), PUBLISH_SLICE):
                envelopes = await self._cpu(st, self._window, fmt, st, basis, start)
                await asyncio.gather(
                    *(
                        self.transport.publish(
                            self.ingress, env.routing_key, env, timeout=self.confirm_timeout
                        )
                        for env in envelopes
                    )
                )
            if st.raw_targets:
                raw = self._raw_envelope(fmt, st, basis)
                assert self.raw_exchange is not None
                await self.transport.publish(
                    self.raw_exchange, raw.routing_key, raw, timeout=self.confirm_timeout
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

    def _window(
        self, fmt: InboundFormat[Any], st: _Stage, basis: str, start: int
    ) -> list[Envelope]:
        """The envelopes of events ``start`` … ``start + PUBLISH_SLICE`` (packed events
        are unpacked here: on a worker thread for a large message)."""
        window = st.events[start : start + PUBLISH_SLICE]
        envelopes = [self._envelope(fmt, st, ev, basis, start + i) for i, ev in enumerate(window)]
        for i, env in enumerate(envelopes):
            env.subject = st.subjects.get(start + i)
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

    def _raw_envelope(self, fmt: InboundFormat[Any], st: _Stage, basis: str) -> RawEnvelope:
        """The message as it came, for its raw subscribers; its id derived like its
        events' (``hub.ids.raw_envelope_id``)."""
        assert st.raw_key is not None
        ident = st.identity
        return RawEnvelope(
            id=ids.raw_envelope_id(basis),
            correlation_id=st.message_id,
            source_system=st.system,
            source_port=st.port,
            format=fmt.format,
            message_key=ident.message_key if ident else None,
            control_id=ident.control_id if ident else None,
            routing=st.raw_key,
            raw_ref=st.message_id,
            exclude_destinations=[st.system],
            raw=st.raw,
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
            digest=ident.digest,
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


def _digest_of(fmt: InboundFormat[Any], record: MessageRecord) -> str | None:
    """The content digest of a stored message: its own, or (stored before schema 3) the one
    its raw bytes give now; ``None`` when they no longer parse."""
    if record.digest is not None:
        return record.digest
    try:
        return fmt.identify(fmt.parse(record.raw)).digest
    except Exception:  # unreadable now: it cannot be the same content as a readable message
        return None


async def _resolve(value: bytes | Awaitable[bytes]) -> bytes:
    """A renderer may be plain or async (X12 allocates control numbers in the store)."""
    return await value if inspect.isawaitable(value) else value


def _status(outcome: InboundOutcome, report: Report) -> MessageStatus:
    """``messages.status`` for an answered message: its outcome, and a rejected message of a
    kind the hub does not take is ``unsupported``."""
    if outcome is InboundOutcome.REJECTED and unsupported(report):
        return MessageStatus.UNSUPPORTED
    return MessageStatus(outcome.value)
