"""HL7 v2 as the pipeline sees it: the codec, the checks, the mappings and the ACK renderer
put together, and the MLLP handler that feeds the pipeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime

from adapters.hl7v2 import Limits, Message, parse, split_messages
from adapters.hl7v2.server import PeerInfo, Refuser
from conformance.hl7v2 import (
    AckMode,
    acks_to_send,
    check_batch,
    check_message,
    outcome_of,
    render_ack,
    render_batch_ack,
    report_for_error,
)
from hub import ids
from hub.canonical import Event
from hub.context import MapContext
from hub.errors import CarehubError, ParseError
from hub.findings import Finding, IssueType, Report, Severity
from hub.judge import InboundOutcome, MessageIdentity, ReusedControlId
from hub.passthru import raw_routing_key
from hub.pipeline import InboundResult, Pipeline
from mappings.hl7v2 import INBOUND, map_message
from mappings.hl7v2.oru import specimen_observation_findings
from mappings.hl7v2.race import race_ethnicity_findings

__all__ = [
    "Hl7v2Inbound",
    "batch_report",
    "is_batch",
    "mllp_handler",
    "mllp_refuser",
    "peer_text",
    "supported_triggers",
]


def supported_triggers(keys: Collection[str]) -> dict[str, set[str]]:
    """``{"ADT": {"A01", …}, …}`` from registry keys like ``ADT^A01``."""
    out: dict[str, set[str]] = {}
    for key in keys:
        code, _, trigger = key.partition("^")
        out.setdefault(code, set()).add(trigger or "*")
    return out


class Hl7v2Inbound:
    """``InboundFormat`` for HL7 v2 (MSH-9 routed, MSH-3|MSH-4|MSH-10 de-duplicated)."""

    format = "hl7v2"

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        supported: Mapping[str, Collection[str]] | None = None,
        strict: bool = False,
    ):
        self.limits = limits
        self.supported = supported if supported is not None else supported_triggers(INBOUND)
        #: ``reading: strict`` ports: the departures ``check_message`` warns of are errors
        self.strict = strict

    def parse(self, raw: bytes) -> Message:
        return parse(raw, limits=self.limits) if self.limits else parse(raw)

    def identify(self, native: Message) -> MessageIdentity:
        """MSH-9 (code^trigger), MSH-10, the duplicate key MSH-3|MSH-4|MSH-10, and the
        digest of the segments as read: MLLP framing, the line-ending style (CR, LF, CRLF)
        and trailing or blank segment terminators do not change it."""
        control = native.control_id
        key = (
            "|".join((native.sending_application or "", native.sending_facility or "", control))
            if control
            else None
        )
        return MessageIdentity(
            native.message_type, control, key, _ts(native.timestamp), _digest(native), "MSH-10"
        )

    def check(self, native: Message) -> Report:
        report = check_message(native, supported=self.supported, strict=self.strict)
        report.extend(race_ethnicity_findings(native))  # codes kept as text only
        report.extend(specimen_observation_findings(native))  # ORU SPECIMEN OBX not results
        return report

    def map(self, native: Message, ctx: MapContext) -> list[Event]:
        return map_message(native, ctx)

    def raw_key(self, native: Message) -> str | None:
        """``hl7v2.<MSH-9.1>.<MSH-9.2>``: the key raw subscribers take it by
        (``hub.passthru``)."""
        return raw_routing_key(native.message_code, native.trigger_event)

    def unmapped(self, finding: Finding) -> bool:
        """An unsupported message type or event (ERR-3 200/201): the hub has no mapping
        for it, which raw subscribers do not need. An unsupported version or processing
        id still refuses the message."""
        return finding.code == IssueType.NOT_SUPPORTED and finding.format_code in _UNMAPPED

    def respond(
        self, native: Message | None, raw: bytes, outcome: InboundOutcome, report: Report
    ) -> bytes:
        """The first acknowledgement (``acks_to_send``, HL7 table 0155): original mode (MSH-15
        and MSH-16 empty or blank) the one ACK; enhanced mode the accept ack when MSH-15
        asks for it, else the application ack of a message not taken when MSH-16 asks for
        that; ``b""`` when the sender asked for none. Further acks come from ``followups``."""
        sends = _acks(native, report)
        return self._render(native, raw, report, sends[0]) if sends else b""

    def followups(
        self, native: Message | None, raw: bytes, outcome: InboundOutcome, report: Report
    ) -> list[bytes]:
        """The acknowledgements after the first: enhanced mode's application ack, when
        MSH-16 asks for it after an accept ack."""
        return [self._render(native, raw, report, mode) for mode in _acks(native, report)[1:]]

    def _render(self, native: Message | None, raw: bytes, report: Report, mode: AckMode) -> bytes:
        return render_ack(native, raw, report, mode=mode, include_warnings=_warns(native))


#: ERR-3 codes (HL7 table 0357) that only say the hub maps no such message type or event
_UNMAPPED = frozenset({"200", "201"})


def mllp_handler(
    pipeline: Pipeline,
    fmt: Hl7v2Inbound,
    *,
    system: str,
    port: str,
    reused_control_id: ReusedControlId = ReusedControlId.PROCESS,
) -> Callable[[bytes, PeerInfo], Awaitable[list[bytes]]]:
    """The MLLP server's handler: one frame in, the answer frames out (none, one, or the
    accept ack then the application ack)."""

    async def one(raw: bytes, peer: PeerInfo) -> list[bytes]:
        result: InboundResult = await pipeline.receive(
            fmt,
            raw,
            system=system,
            port=port,
            peer=peer_text(peer),
            reused_control_id=reused_control_id,
        )
        # an empty answer is an acknowledgement the sender asked not to get (MSH-15/16 NE)
        return [answer for answer in (result.response, *result.followups) if answer]

    async def batch(frame: bytes, messages: list[bytes], peer: PeerInfo) -> list[bytes]:
        envelope = batch_report(frame, len(messages), strict=fmt.strict)
        if not envelope.ok:
            first = envelope.errors[0]
            error = ParseError(f"batch envelope: {first.text}", code="100", location=first.location)
            refused = await mllp_refuser(pipeline, system=system, port=port)(frame, error, peer)
            return [refused] if refused else []
        acks: list[bytes] = []
        for raw in messages:
            acks.extend(await one(raw, peer))
        return [render_batch_ack(frame, acks, envelope)]

    async def handle(frame: bytes, peer: PeerInfo) -> list[bytes]:
        if is_batch(frame):
            return await batch(frame, split_messages(frame), peer)
        return await one(frame, peer)

    return handle


_ENVELOPE_IDS = (b"FHS", b"BHS", b"BTS", b"FTS")


def _heads(frame: bytes) -> list[bytes]:
    lines = frame.removeprefix(b"\xef\xbb\xbf").replace(b"\n", b"\r").split(b"\r")
    return [line[:3] for line in lines]


def is_batch(frame: bytes) -> bool:
    """A frame holding a batch (v2.x 2.10.3): it has an FHS/BHS/BTS/FTS line, or more than
    one MSH line (messages sent without their envelope)."""
    heads = _heads(frame)
    return any(h in _ENVELOPE_IDS for h in heads) or heads.count(b"MSH") > 1


def batch_report(frame: bytes, messages: int, *, strict: bool) -> Report:
    """The envelope findings of a batch frame (``check_batch``), and one for messages sent
    together without any envelope; warnings, errors when ``strict``."""
    report = check_batch(frame, strict=strict)
    if not any(h in _ENVELOPE_IDS for h in _heads(frame)):
        report.add(
            Severity.ERROR if strict else Severity.WARNING,
            "structure",
            f"{messages} messages in one frame without a batch envelope (BHS … BTS): "
            "each read and answered",
            "BHS",
            "100",
        )
    return report


def mllp_refuser(pipeline: Pipeline, *, system: str, port: str) -> Refuser:
    """The MLLP server's ``refuse`` seam: a frame refused before parsing (over the size cap,
    or not ended in time) is kept in the message log — the bytes the server holds, at most
    the cap — and answered with an AR naming the reason (ERR-3 102 or 100)."""

    async def refuse(head: bytes, error: CarehubError, peer: PeerInfo) -> bytes | None:
        if not head:  # a start block and nothing after it: nothing to keep or answer
            return None

        def answer(outcome: InboundOutcome, report: Report) -> bytes:
            if outcome is InboundOutcome.UNAVAILABLE:
                return render_ack(None, head, report)
            return render_ack(None, head, report_for_error(error))

        result = await pipeline.refuse(
            "hl7v2", head, error, answer, system=system, port=port, peer=peer_text(peer)
        )
        return result.response or None

    return refuse


def peer_text(peer: PeerInfo) -> str:
    """Where a connection comes from, for the message log and the audit trail."""
    text = f"{peer.host}:{peer.port}"
    if peer.subject_cn:
        text += f" cn={peer.subject_cn}"
    return text


def _digest(native: Message) -> str:
    """``hub.ids.content_digest`` of the message's segments joined by CR, as parsed."""
    text = "\r".join(segment.render() for segment in native.segments)
    return ids.content_digest(text.encode("utf-8", "surrogatepass"))


def _acks(native: Message | None, report: Report) -> tuple[AckMode, ...]:
    """Which acknowledgements this message gets, in order (an unreadable one: original)."""
    if native is None:
        return (AckMode.ORIGINAL,)
    return acks_to_send(native.accept_ack_type, native.app_ack_type, outcome_of(report))


def _warns(native: Message | None) -> bool:
    """Warnings go into an AA as ERR segments with ERR-4 = W from v2.5, where ERR has a
    severity; before, any ERR reads as an error."""
    version = native.version if native is not None else None
    try:
        return version is not None and tuple(int(p) for p in version.split(".")[:2]) >= (2, 5)
    except ValueError:
        return False


def _ts(value: str | None) -> datetime | None:
    """MSH-7 as a datetime, when it is a plain DTM; the mappings parse it properly."""
    if not value or len(value) < 8 or not value[:8].isdigit():
        return None
    try:
        return datetime.strptime(value[:14].ljust(14, "0"), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
