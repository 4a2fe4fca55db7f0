"""The pipeline's judging steps (``hub.judge``): every failure a finding with the code and the
outcome the pipeline answers with, the same for the hub and for ``carehub validate``."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hub.canonical import Event
from hub.context import MapContext
from hub.errors import MappingError, ParseError, UnsupportedMessage
from hub.findings import IssueType, Report, Severity
from hub.judge import InboundOutcome, MessageIdentity, judge, read, unsupported

CTX = MapContext(source_system="ehr", format="toy")


@dataclass
class Toy:
    """A format whose every step can be told to fail."""

    format: str = "toy"
    parse_error: Exception | None = None
    identify_error: Exception | None = None
    check_code: str | None = None
    map_error: Exception | None = None
    events: list[Event] = field(default_factory=list)

    def parse(self, raw: bytes) -> str:
        if self.parse_error is not None:
            raise self.parse_error
        return raw.decode()

    def identify(self, native: str) -> MessageIdentity:
        if self.identify_error is not None:
            raise self.identify_error
        return MessageIdentity("TOY^1", native, f"ehr|{native}")

    def check(self, native: str) -> Report:
        report = Report()
        if self.check_code is not None:
            report.error(self.check_code, "wrong", "TOY-1")
        return report

    def map(self, native: str, ctx: MapContext) -> list[Event]:
        if self.map_error is not None:
            raise self.map_error
        return self.events


def test_a_message_that_passes_is_accepted_with_its_identity_and_events():
    verdict = judge(Toy(), b"X1", CTX)
    assert verdict.outcome is InboundOutcome.ACCEPTED and verdict.report.ok
    assert verdict.identity == MessageIdentity("TOY^1", "X1", "ehr|X1")


def test_an_unreadable_message_is_a_fatal_structure_finding_and_rejected():
    verdict = judge(Toy(parse_error=ParseError("no MSH", location="MSH")), b"", CTX)
    (finding,) = verdict.report.findings
    assert verdict.outcome is InboundOutcome.REJECTED and verdict.identity is None
    assert (finding.severity, finding.code, finding.location) == (
        Severity.FATAL,
        IssueType.STRUCTURE,
        "MSH",
    )


def test_a_failed_identify_keeps_what_was_parsed():
    """The pipeline answers from the parsed message (MSA-2 echoes MSH-10) even so."""
    report = Report()
    reading = read(Toy(identify_error=ParseError("no MSH-10")), b"X1", report)
    assert reading.native == "X1" and reading.identity is None and reading.failure is None
    assert [f.code for f in report.findings] == [IssueType.STRUCTURE]


def test_a_codec_bug_is_handed_back_by_read_and_raised_by_the_dry_run():
    bug = KeyError("oops")
    report = Report()
    reading = read(Toy(identify_error=bug), b"X1", report)
    assert reading.failure is bug and reading.native == "X1" and report.ok
    with pytest.raises(KeyError):
        judge(Toy(identify_error=bug), b"X1", CTX)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [("not-supported", InboundOutcome.REJECTED), ("value", InboundOutcome.CONTENT_ERROR)],
)
def test_a_failed_check_answers_without_mapping(code: str, outcome: InboundOutcome):
    verdict = judge(Toy(check_code=code, map_error=AssertionError("mapped")), b"X1", CTX)
    assert verdict.outcome is outcome and not verdict.events
    assert unsupported(verdict.report) is (outcome is InboundOutcome.REJECTED)


def test_a_mapping_that_does_not_take_the_message_rejects_it():
    verdict = judge(Toy(map_error=UnsupportedMessage("no mapping for TOY^9")), b"X1", CTX)
    assert verdict.outcome is InboundOutcome.REJECTED
    assert verdict.unmapped is not None and verdict.unmapped.code is IssueType.NOT_SUPPORTED
    assert verdict.report.findings == [verdict.unmapped] and unsupported(verdict.report)


@pytest.mark.parametrize("error", [MappingError("bad date", location="TOY-7"), ValueError("x")])
def test_a_mapping_error_is_a_content_error(error: Exception):
    verdict = judge(Toy(map_error=error), b"X1", CTX)
    (finding,) = verdict.report.findings
    assert verdict.outcome is InboundOutcome.CONTENT_ERROR and verdict.unmapped is None
    assert finding.code is IssueType.VALUE and not unsupported(verdict.report)
