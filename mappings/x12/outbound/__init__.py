"""Canonical events → X12 interchanges: the registry ``OUTBOUND`` and ``render_x12_event``.

Every 837 rendered validates with pyx12 without errors; 270 and 850 pass the hub's own guide
tables (``conformance.x12.check_interchange``) — both tested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from adapters.x12 import Interchange, render
from hub.canonical import Event, EventKind
from hub.errors import UnsupportedMessage

from .claim_837 import render_claim
from .eligibility_270 import render_270
from .options import X12OutboundOptions
from .po_850 import render_850

__all__ = ["OUTBOUND", "X12OutboundOptions", "Renderer", "render_x12_event", "render_interchange"]

#: an outbound mapping: one event and the destination's options → a whole interchange
Renderer = Callable[[Event, X12OutboundOptions], Interchange]

#: event kind → renderer; an explicit value that carehub.app wires
OUTBOUND: Mapping[EventKind, Renderer] = MappingProxyType(
    {
        EventKind.CLAIM_SUBMITTED: render_claim,
        EventKind.ELIGIBILITY_REQUESTED: render_270,
        EventKind.SUPPLY_ORDER_PLACED: render_850,
    }
)


def render_interchange(event: Event, options: X12OutboundOptions) -> Interchange:
    """The native interchange for ``event`` (ISA/GS/ST … SE/GE/IEA, counts and control
    numbers filled). Raises ``UnsupportedMessage`` for a kind with no X12 rendering and
    ``MappingError`` (naming the loop/element) for what the event lacks."""
    renderer = OUTBOUND.get(event.kind)
    if renderer is None:
        raise UnsupportedMessage(
            f"{event.kind.value} has no X12 rendering", code="not-supported", location="event.kind"
        )
    return renderer(event, options)


def render_x12_event(event: Event, options: X12OutboundOptions) -> bytes:
    """``render_interchange`` as bytes (ISO-8859-1)."""
    return render(render_interchange(event, options))
