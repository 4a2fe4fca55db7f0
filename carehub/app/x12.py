"""X12 as the pipeline sees it, and the inbox handler that feeds it.

One stored message is one file (or HTTP body) holding one or more interchanges. Each
transaction set the checks accept is mapped; the 999/997 says per set what was accepted, so
a file with one bad claim does not lose the good ones. The answers (TA1, 999, 997) carry
control numbers allocated per partner in the store: persisted, never reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from adapters.x12 import TransactionSet, X12Document, parse
from adapters.x12.inbox import InboxFile, InboxResult
from conformance.x12 import acknowledge, check_interchange, refuse_unreadable
from conformance.x12.verdict import InterchangeVerdict, judge
from hub import ids
from hub.canonical.packed import PackedEvents
from hub.context import MapContext
from hub.errors import UnsupportedMessage
from hub.findings import Report, Severity
from hub.judge import InboundOutcome, MessageIdentity
from hub.pipeline import InboundResult, Pipeline
from hub.ports import Store
from mappings.x12 import map_transaction

__all__ = ["X12Inbound", "X12Native", "X12Reader", "inbox_handler"]

#: control numbers reserved per answer, per kind: an upper bound of what TA1+999+997 use
_RESERVE = {"ISA13": 3, "GS06": 4, "ST02": 4}


@dataclass
class X12Native:
    """A parsed file, with what the checks found per interchange."""

    doc: X12Document
    reports: list[Report] = field(default_factory=list)
    verdicts: list[InterchangeVerdict] = field(default_factory=list)
    duplicate: bool = False
    #: TA1/999/997 rendered by ``respond`` (the first is the answer, the rest follow it)
    answers: list[bytes] = field(default_factory=list)


class X12Reader:
    """What the hub judges in an X12 file — parse, identify, check, map — without answering
    it: the part of ``X12Inbound`` that needs no store, which ``carehub validate`` runs."""

    format = "x12"

    def parse(self, raw: bytes) -> X12Native:
        return X12Native(parse(raw))

    def identify(self, native: X12Native) -> MessageIdentity:
        """``837:005010X222A1``-style key of the first set; ISA13s as the control id."""
        ics = native.doc.interchanges
        controls = "+".join(ic.isa.element(13) for ic in ics)
        sender = ics[0].isa.element(5) + ":" + ics[0].isa.element(6).strip() if ics else ""
        first = next(native.doc.transaction_sets(), None)
        key = None
        if first is not None:
            convention = first.st.element(3) or (first.gs.element(8) if first.gs else "")
            key = f"{first.id}:{convention}" if convention else first.id
        dedup = f"{sender}|{controls}" if ics else None
        return MessageIdentity(
            key, controls or None, dedup, digest=_digest(native.doc), control_location="ISA13"
        )

    def check(self, native: X12Native) -> Report:
        """Envelope and set findings. Only what rejects everything is an error here; a
        rejected set is a warning (its 999 says so) and is not mapped."""
        overall = Report()
        for ic in native.doc.interchanges:
            report = check_interchange(ic)
            verdict = judge(ic, report)
            for ts in ic.transaction_sets():
                ts.release()
            native.reports.append(report)
            native.verdicts.append(verdict)
            for finding in report.findings:
                severity = finding.severity if _rejects_all(verdict) else Severity.WARNING
                overall.add(
                    severity if finding.is_error else finding.severity,
                    finding.code,
                    finding.text,
                    finding.location,
                    finding.format_code,
                )
        return overall

    def map(self, native: X12Native, ctx: MapContext) -> PackedEvents:
        """The events of every accepted set, packed set by set (``PackedEvents``: a claim
        event as ~1.7 KB instead of ~27 KB of objects) and each set released once mapped,
        so a large file's memory stays a small multiple of its size (docs/x12.md)."""
        events = PackedEvents()
        unsupported: list[str] = []
        for ic, verdict in zip(native.doc.interchanges, native.verdicts, strict=True):
            for ts in _accepted_sets(verdict):
                try:
                    events.extend(map_transaction(ts, ctx, envelope=ic))
                except UnsupportedMessage as exc:
                    unsupported.append(exc.message)
                finally:
                    ts.release()
        if not events and unsupported:
            raise UnsupportedMessage("; ".join(dict.fromkeys(unsupported)), code="I6")
        return events


class X12Inbound(X12Reader):
    """``InboundFormat`` for X12 (ISA05:ISA06|ISA13 de-duplicated, TA1 025 on a repeat): the
    reader, and the answers with control numbers allocated per partner in the store."""

    def __init__(self, store: Store, *, partner: str):
        self.store = store
        self.partner = partner

    async def respond(
        self, native: X12Native | None, raw: bytes, outcome: InboundOutcome, report: Report
    ) -> bytes:
        if outcome is InboundOutcome.UNAVAILABLE:
            return b""  # nothing to acknowledge: the transport says "try again" its own way
        if native is None:  # no interchange could be read: a TA1 rejecting what was sent
            return refuse_unreadable(raw, await self._allocator(0))
        native.answers = await self._render(native)
        return native.answers[0] if native.answers else b""

    def followups(
        self, native: X12Native | None, raw: bytes, outcome: InboundOutcome, report: Report
    ) -> list[bytes]:
        return native.answers[1:] if native is not None else []

    async def _render(self, native: X12Native) -> list[bytes]:
        """TA1, 999, 997 for every interchange of the file, in order."""
        out: list[bytes] = []
        for i, ic in enumerate(native.doc.interchanges):
            allocate = await self._allocator(len(ic.groups))
            if native.duplicate:  # not checked again: only the repeat itself is answered
                report = check_interchange(ic, seen=lambda qualifier, sender, control: True)
            else:
                report = native.reports[i] if i < len(native.reports) else check_interchange(ic)
            ack = acknowledge(ic, allocate, report=report)
            out.extend(a for a in (ack.ta1, ack.ack_999, ack.ack_997) if a)
        return out

    async def duplicate_answer(self, native: X12Native, raw: bytes) -> bytes:
        """A repeated interchange control number from the same sender: TA1 with note 025
        (the original is not processed again)."""
        native.duplicate = True
        native.answers = await self._render(native)
        return native.answers[0] if native.answers else b""

    async def _allocator(self, groups: int) -> Callable[[str], int]:
        """Reserve control numbers in the store, then hand them out synchronously."""
        pools: dict[str, list[int]] = {}
        for kind, base in _RESERVE.items():
            count = base + 2 * groups
            first = await self.store.reserve_control_numbers(self.partner, kind, count)
            pools[kind] = list(range(first, first + count))

        def next_control(kind: str) -> int:
            return pools[kind].pop(0)

        return next_control


def _digest(doc: X12Document) -> str:
    """``hub.ids.content_digest`` of the interchanges as read, line breaks left out (between
    segments they are layout, not content): a resend under ISA13 is told from another
    interchange under a reused ISA13."""
    text = doc.render().replace("\r", "").replace("\n", "")
    return ids.content_digest(text.encode("utf-8", "surrogatepass"))


def _rejects_all(verdict: InterchangeVerdict) -> bool:
    return verdict.rejected or all(g.code == "R" for g in verdict.groups)


def _accepted_sets(verdict: InterchangeVerdict) -> list[TransactionSet]:
    if verdict.rejected:
        return []
    return [t.ts for g in verdict.groups for t in g.transactions if t.code in ("A", "E")]


def inbox_handler(
    pipeline: Pipeline, fmt: X12Inbound, *, system: str, port: str
) -> Callable[[InboxFile], Awaitable[InboxResult]]:
    """A watched-inbox handler: one file through the pipeline; its answers to the outbox.
    The watcher has opened and checked the file (a regular file inside the inbox, under
    ``max_file_bytes``); it is read through that descriptor, never reopened by name."""

    async def handle(file: InboxFile) -> InboxResult:
        data = await asyncio.to_thread(file.read)
        result: InboundResult = await pipeline.receive(
            fmt, data, system=system, port=port, peer=f"file:{file.name}"
        )
        if result.outcome is InboundOutcome.UNAVAILABLE:
            raise ConnectionError("store or broker unavailable; the file stays claimed")
        stem = file.name.split("-", 1)[-1]
        names = [
            f"{stem}.{_kind(a)}.{i}"
            for i, a in enumerate([result.response, *result.followups])
            if a
        ]
        answers = [a for a in [result.response, *result.followups] if a]
        ok = result.outcome in (InboundOutcome.ACCEPTED, InboundOutcome.DUPLICATE)
        return InboxResult(ok, list(zip(names, answers, strict=True)), result.report.as_list())

    return handle


def _kind(answer: bytes) -> str:
    for tag in (b"TA1", b"ST*999", b"ST*997"):
        sep = answer[3:4] or b"*"
        if tag.replace(b"*", sep) in answer:
            return tag.decode().replace("ST*", "")
    return "ack"
