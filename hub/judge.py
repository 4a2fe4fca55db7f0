"""The pipeline's judging steps, pure: read a message (parse + identify), then check and map it.

Each step takes an ``InboundFormat`` (its judging part, :class:`Judged`) and adds what goes
wrong to a ``Report`` as findings, never as an exception; the outcome says how the message
would be answered. ``hub.pipeline.Pipeline`` runs them between its I/O stages (parse → store
raw → duplicate check → check → map → publish); ``carehub validate``/``convert`` run
:func:`judge` on files, so a file validates exactly as the hub judges it on a port. What only
a running hub knows — a duplicate of an earlier message, the broker's confirm — is not
judged here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from hub.canonical import Event
from hub.context import MapContext
from hub.errors import CarehubError, MappingError, ParseError, UnsupportedMessage
from hub.findings import Finding, IssueType, Report, Severity

__all__ = [
    "InboundOutcome",
    "Judged",
    "Judgement",
    "MessageIdentity",
    "Reading",
    "ReusedControlId",
    "judge",
    "judge_parsed",
    "read",
    "unsupported",
]

N = TypeVar("N")


class InboundOutcome(StrEnum):
    """What happened to an inbound message; each format renders it its own way."""

    ACCEPTED = "accepted"  # stored, mapped, published, confirmed  → AA / CA / 999 A / 2xx
    DUPLICATE = "duplicate"  # seen before: the original answer is repeated
    CONTENT_ERROR = "error"  # well-formed but wrong content → AE / 999 R / 422
    REJECTED = "rejected"  # unparseable or unsupported → AR / TA1 / 400
    UNAVAILABLE = "unavailable"  # store or broker down: retry later → AR 207 / 503


class ReusedControlId(StrEnum):
    """What a port does with a message whose de-duplication key (sender + control id) was
    seen before with different content (``hub.pipeline``): a sender that reset its counters,
    a test feed that always sends ``MSG00001``."""

    PROCESS = "process"  # take it as the new message it is, with a warning (ERR-4 W)
    REJECT = "reject"  # refuse it (AR, ERR-3 205): the sender must send a new control id


@dataclass(frozen=True, slots=True)
class MessageIdentity:
    """How a message names itself: ``ADT^A04`` + MSH-10, the de-duplication key
    (MSH-3|MSH-4|MSH-10 for HL7 v2) and the digest of its content (``hub.ids.content_digest``
    of what the format keeps of it: framing and line-ending style left out), which tells a
    resend from another message under a reused key."""

    message_key: str | None
    control_id: str | None
    dedup_key: str | None
    recorded_at: datetime | None = None
    digest: str | None = None
    #: where the control id is (``MSH-10``, ``ISA13``): the location of a finding about it
    control_location: str | None = None


class Judged(Protocol[N]):
    """The judging part of ``hub.pipeline.InboundFormat``: every inbound format has it."""

    format: str

    def parse(self, raw: bytes) -> N: ...

    def identify(self, native: N) -> MessageIdentity: ...

    def check(self, native: N) -> Report: ...

    def map(self, native: N, ctx: MapContext) -> Sequence[Event]: ...


@dataclass
class Judgement:
    """What the pipeline makes of one message before publishing it."""

    #: ``ACCEPTED``: its events are ready to publish; otherwise how it is answered
    outcome: InboundOutcome
    identity: MessageIdentity | None = None
    report: Report = field(default_factory=Report)
    events: Sequence[Event] = field(default_factory=list)
    #: the finding of a mapping that does not take the message (``UnsupportedMessage``)
    unmapped: Finding | None = None


@dataclass(slots=True)
class Reading(Generic[N]):
    """What reading a message got to: its native form and its identity, as far as they came."""

    native: N | None = None
    identity: MessageIdentity | None = None
    #: a codec that failed with anything but ``ParseError``: a bug, for the caller to handle
    failure: Exception | None = None


def read(fmt: Judged[N], raw: bytes, report: Report) -> Reading[N]:
    """Parse and identify ``raw``. A ``ParseError`` becomes a fatal ``structure`` finding in
    ``report`` (the message is answered with a reject). Any other exception is a codec bug,
    handed back as ``failure``: the pipeline keeps and refuses the message so as not to lose
    it, a dry run raises it so that it is seen."""
    reading: Reading[N] = Reading()
    try:
        reading.native = fmt.parse(raw)
        reading.identity = fmt.identify(reading.native)
    except ParseError as exc:
        report.add(Severity.FATAL, IssueType.STRUCTURE, exc.message, exc.location, exc.code)
    except Exception as exc:
        reading.failure = exc
    return reading


def judge_parsed(fmt: Judged[N], native: N, ctx: MapContext, report: Report) -> Judgement:
    """Check, then map a parsed message, adding to ``report``: a check that fails answers
    it (rejected if it is of a kind the hub does not take, a content error otherwise); a
    mapping's ``UnsupportedMessage`` rejects it, its ``MappingError``/``ValueError`` is a
    content error. ``ACCEPTED`` with the events when nothing failed."""
    verdict = Judgement(InboundOutcome.REJECTED, report=report)
    report.extend(fmt.check(native))
    if not report.ok:
        if not unsupported(report):
            verdict.outcome = InboundOutcome.CONTENT_ERROR
        return verdict
    try:
        verdict.events = fmt.map(native, ctx)
    except UnsupportedMessage as exc:
        verdict.unmapped = _finding(report, exc, IssueType.NOT_SUPPORTED)
        return verdict
    except (MappingError, ValueError) as exc:
        _finding(report, exc, IssueType.VALUE)
        verdict.outcome = InboundOutcome.CONTENT_ERROR
        return verdict
    verdict.outcome = InboundOutcome.ACCEPTED
    return verdict


def judge(fmt: Judged[Any], raw: bytes, ctx: MapContext) -> Judgement:
    """The whole dry run of one message: :func:`read`, then :func:`judge_parsed`."""
    report = Report()
    reading = read(fmt, raw, report)
    if reading.failure is not None:
        raise reading.failure
    if not report.ok:
        return Judgement(InboundOutcome.REJECTED, reading.identity, report)
    verdict = judge_parsed(fmt, reading.native, ctx, report)
    verdict.identity = reading.identity
    return verdict


def unsupported(report: Report) -> bool:
    """An error says the hub does not take this kind of message (``not-supported``)."""
    return any(f.code == IssueType.NOT_SUPPORTED for f in report.errors)


def _finding(report: Report, exc: CarehubError | ValueError, code: IssueType) -> Finding:
    if isinstance(exc, CarehubError):
        return report.error(code, exc.message, exc.location, exc.code)
    return report.error(code, str(exc))
