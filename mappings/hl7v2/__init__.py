"""HL7 v2 ↔ canonical mappings, after the HL7 V2-to-FHIR mapping guide.

Inbound: ``map_message(msg, ctx)`` and the registry ``INBOUND`` (``"ADT^A04"`` → mapping).
Outbound: ``render_hl7v2_event(event, options)`` and the registry ``OUTBOUND`` (event kind →
builder of a ``Message``). Pure functions: no I/O, no logging of payloads.
"""

from .inbound import INBOUND, STRUCTURES, map_message, message_key
from .outbound import OUTBOUND, Hl7v2OutboundOptions, Renderer, control_id_for, render_hl7v2_event
from .source import Mapper

__all__ = [
    "INBOUND",
    "OUTBOUND",
    "STRUCTURES",
    "Mapper",
    "Hl7v2OutboundOptions",
    "Renderer",
    "control_id_for",
    "map_message",
    "message_key",
    "render_hl7v2_event",
]
