"""A dry run of the pipeline's judging stages for one message: parse, identify, check, map,
through the same ``InboundFormat`` classes the hub runs on its ports — with no store, no
broker and no answer.

``carehub validate`` and ``carehub convert`` judge files with it, so a file validates as
the hub would judge it on a port. The stages and the findings they add follow
``hub.pipeline.Pipeline`` (``_parse`` and ``_process``); what only a running hub knows — a
duplicate of an earlier message, the broker's confirm — is not judged here. A codec that
fails with anything but ``ParseError`` is a bug: the pipeline keeps and refuses the message so
as not to lose it, the dry run lets the error through so that it is seen.
tests/cli/test_validate_as_hub.py holds the two to the same findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hub.canonical import Event
from hub.context import MapContext
from hub.errors import CarehubError, MappingError, ParseError, UnsupportedMessage
from hub.findings import Finding, Report, Severity
from hub.pipeline import InboundOutcome, MessageIdentity

__all__ = ["Judged", "Judgement", "judge"]

N = TypeVar("N")


class Judged(Protocol[N]):
    """The judging part of ``hub.pipeline.InboundFormat``: every inbound format has it."""

    format: str

    def parse(self, raw: bytes) -> N: ...

    def identify(self, native: N) -> MessageIdentity: ...

    def check(self, native: N) -> Report: ...

    def map(self, native: N, ctx: MapContext) -> list[Event]: ...


@dataclass
class Judgement:
    """What the pipeline would make of one message before publishing it."""

    #: ``ACCEPTED``: its events would be published; otherwise how it would be answered
    outcome: InboundOutcome
    identity: MessageIdentity | None = None
    report: Report = field(default_factory=Report)
    events: list[Event] = field(default_factory=list)
    #: the finding of a mapping that does not take the message (``UnsupportedMessage``)
    unmapped: Finding | None = None


def judge(fmt: Judged[Any], raw: bytes, ctx: MapContext) -> Judgement:
    """Parse, identify, check and map ``raw`` as the pipeline does; every problem becomes a
    finding, never an exception."""
    verdict = Judgement(InboundOutcome.REJECTED)
    native = _parse(fmt, raw, verdict)
    if not verdict.report.ok:
        return verdict
    verdict.report.extend(fmt.check(native))
    if not verdict.report.ok:
        rejected = any(f.code == "not-supported" for f in verdict.report.errors)
        verdict.outcome = InboundOutcome.REJECTED if rejected else InboundOutcome.CONTENT_ERROR
        return verdict
    try:
        verdict.events = fmt.map(native, ctx)
    except UnsupportedMessage as exc:
        verdict.unmapped = _finding(verdict.report, exc, "not-supported")
        return verdict
    except (MappingError, ValueError) as exc:
        _finding(verdict.report, exc, "value")
        verdict.outcome = InboundOutcome.CONTENT_ERROR
        return verdict
    verdict.outcome = InboundOutcome.ACCEPTED
    return verdict


def _parse(fmt: Judged[Any], raw: bytes, verdict: Judgement) -> Any:
    try:
        native = fmt.parse(raw)
        verdict.identity = fmt.identify(native)
    except ParseError as exc:
        verdict.report.add(Severity.FATAL, "structure", exc.message, exc.location, exc.code)
        return None
    return native


def _finding(report: Report, exc: CarehubError | ValueError, default_code: str) -> Finding:
    if isinstance(exc, CarehubError):
        return report.error(default_code, exc.message, exc.location, exc.code)
    return report.error(default_code, str(exc))
