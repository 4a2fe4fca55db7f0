"""HL7 v2 ↔ canonical mappings, after the HL7 V2-to-FHIR mapping guide.

Inbound: ``map_message(msg, ctx)`` and the registry ``INBOUND`` (``"ADT^A04"`` → mapping).
Outbound: ``render_event(event, options)`` and the registry ``OUTBOUND`` (event kind →
builder of a ``Message``). Pure functions: no I/O, no logging of payloads.
"""

from .inbound import INBOUND, STRUCTURES, map_message, message_key

__all__ = ["INBOUND", "STRUCTURES", "map_message", "message_key"]
