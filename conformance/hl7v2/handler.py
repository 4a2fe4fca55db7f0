"""A handler for ``MllpServer`` that only parses, checks and acknowledges.

For tests, simulated partners and the demo: it answers at once and stores nothing, so it
does not keep the hub's acknowledgement rule (no AA before the raw message is stored and its
events confirmed). The hub's own handler is wired in ``carehub.app``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from adapters.hl7v2 import DEFAULT_LIMITS, Handler, Limits, PeerInfo, parse
from hub.errors import ParseError

from .ack import render_ack, report_for_error
from .checks import SUPPORTED_VERSIONS, check_message

__all__ = ["make_ack_handler"]


def make_ack_handler(
    *,
    supported: Mapping[str, Collection[str]] | None = None,
    versions: Collection[str] = SUPPORTED_VERSIONS,
    limits: Limits = DEFAULT_LIMITS,
) -> Handler:
    """An MLLP handler answering each frame with an original-mode ACK from ``check_message``."""

    async def handle(frame: bytes, peer: PeerInfo) -> bytes:
        try:
            message = parse(frame, limits=limits)
        except ParseError as exc:
            return render_ack(None, frame, report_for_error(exc))
        return render_ack(
            message, frame, check_message(message, supported=supported, versions=versions)
        )

    return handle
