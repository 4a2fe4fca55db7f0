"""Canonical events → HL7 v2 messages: the registry ``OUTBOUND`` and ``render_hl7v2_event``.

Every rendering validates at hl7apy's STRICT level for its structure in the configured
version (tested for v2.5.1, the default).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from adapters.hl7v2 import Message
from hub.canonical import Event, EventKind
from hub.errors import UnsupportedMessage

from .adt import render_a04, render_a08, render_a40, render_a47
from .dft import render_dft
from .mdm import render_mdm
from .options import Hl7v2OutboundOptions, control_id_for
from .oru import render_oru_report, render_oru_result
from .siu import render_siu
from .vxu import render_v04

__all__ = ["OUTBOUND", "Hl7v2OutboundOptions", "Renderer", "control_id_for", "render_hl7v2_event"]

#: an outbound mapping: one event and the destination's options → the message
Renderer = Callable[[Event, Hl7v2OutboundOptions], Message]

#: event kind → renderer; an explicit value that carehub.app wires
OUTBOUND: Mapping[EventKind, Renderer] = MappingProxyType(
    {
        EventKind.PATIENT_REGISTERED: render_a04,
        EventKind.PATIENT_UPDATED: render_a08,
        EventKind.PATIENT_MERGED: render_a40,
        EventKind.APPOINTMENT_BOOKED: render_siu,
        EventKind.APPOINTMENT_RESCHEDULED: render_siu,
        EventKind.APPOINTMENT_MODIFIED: render_siu,
        EventKind.APPOINTMENT_CANCELLED: render_siu,
        EventKind.CHARGE_POSTED: render_dft,
        EventKind.APPOINTMENT_DISCONTINUED: render_siu,
        EventKind.PATIENT_IDENTIFIER_CHANGED: render_a47,
        EventKind.RESULT_REPORTED: render_oru_result,
        EventKind.REPORT_ISSUED: render_oru_report,
        EventKind.DOCUMENT_REPORTED: render_mdm,
        EventKind.IMMUNIZATION_RECORDED: render_v04,
        EventKind.IMMUNIZATION_ENTERED_IN_ERROR: render_v04,
        EventKind.IMMUNIZATION_REMOVED: render_v04,
    }
)


def render_hl7v2_event(event: Event, options: Hl7v2OutboundOptions) -> bytes:
    """The HL7 v2 message for ``event`` as bytes (UTF-8, segments ended by CR).

    Raises ``UnsupportedMessage`` (code 200) for an event kind with no HL7 v2 rendering and
    ``MappingError`` (naming the field) when the event lacks what the message requires.
    """
    renderer = OUTBOUND.get(event.kind)
    if renderer is None:
        raise UnsupportedMessage(
            f"{event.kind.value} has no HL7 v2 rendering", code="200", location="event.kind"
        )
    return renderer(event, options).render()
