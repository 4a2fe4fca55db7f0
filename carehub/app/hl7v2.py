"""HL7 v2 as the pipeline sees it: the codec, the checks, the mappings and the ACK renderer
put together, and the MLLP handler that feeds the pipeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime

from adapters.hl7v2 import Limits, Message, parse
from adapters.hl7v2.server import PeerInfo, Refuser
from conformance.hl7v2 import (
    AckMode,
    acks_to_send,
    check_message,
    outcome_of,
    render_ack,
    report_for_error,
)
from hub.canonical import Event
from hub.context import MapContext
from hub.errors import CarehubError
from hub.findings import Report
from hub.judge import InboundOutcome, MessageIdentity
from hub.pipeline import InboundResult, Pipeline
from mappings.hl7v2 import INBOUND, map_message

__all__ = ["Hl7v2Inbound", "mllp_handler", "mllp_refuser", "peer_text", "supported_triggers"]


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
    ):
        self.limits = limits
        self.supported = supported if supported is not None else supported_triggers(INBOUND)

    def parse(self, raw: bytes) -> Message:
        return parse(raw, limits=self.limits) if self.limits else parse(raw)

    def identify(self, native: Message) -> MessageIdentity:
        """MSH-9 (code^trigger), MSH-10, and the duplicate key MSH-3|MSH-4|MSH-10."""
        control = native.control_id
        key = (
            "|".join((native.sending_application or "", native.sending_facility or "", control))
            if control
            else None
        )
        return MessageIdentity(native.message_type, control, key, _ts(native.timestamp))

    def check(self, native: Message) -> Report:
        return check_message(native, supported=self.supported)

    def map(self, native: Message, ctx: MapContext) -> list[Event]:
        return map_message(native, ctx)

    def respond(
        self, native: Message | None, raw: bytes, outcome: InboundOutcome, report: Report
    ) -> bytes:
        """Original mode: one ACK. Enhanced mode (MSH-15/16 valued): the accept ack here; the
        application ack comes from ``followups``."""
        mode = AckMode.ORIGINAL
        if native is not None and (native.accept_ack_type or native.app_ack_type):
            mode = AckMode.ACCEPT
        return render_ack(native, raw, report, mode=mode, include_warnings=_warns(native))

    def followups(
        self, native: Message | None, raw: bytes, outcome: InboundOutcome, report: Report
    ) -> list[bytes]:
        """The application ack of enhanced mode, when MSH-16 asks for it."""
        if native is None or not (native.accept_ack_type or native.app_ack_type):
            return []
        sends = acks_to_send(native.accept_ack_type, native.app_ack_type, outcome_of(report))
        if AckMode.APPLICATION not in sends:
            return []
        return [
            render_ack(
                native, raw, report, mode=AckMode.APPLICATION, include_warnings=_warns(native)
            )
        ]


def mllp_handler(
    pipeline: Pipeline, fmt: Hl7v2Inbound, *, system: str, port: str
) -> Callable[[bytes, PeerInfo], Awaitable[list[bytes]]]:
    """The MLLP server's handler: one frame in, the answer frames out."""

    async def handle(frame: bytes, peer: PeerInfo) -> list[bytes]:
        result: InboundResult = await pipeline.receive(
            fmt, frame, system=system, port=port, peer=peer_text(peer)
        )
        return [result.response, *result.followups]

    return handle


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
