"""X12 ↔ canonical mappings (837P/837I, 835, 270/271, 277/277CA, 850/855/856/810).

Inbound: ``map_transaction(ts, ctx, envelope=…)`` and the registry ``INBOUND``
(``"837:005010X222A1"``, ``"835:005010X221A1"``, ``"850"`` … → mapping).
Outbound: ``render_x12_event(event, options)`` and the registry ``OUTBOUND`` (event kind →
renderer of a full interchange). Pure functions: no I/O, no logging of payloads.
See docs/x12-mappings.md.
"""

from .inbound import (
    INBOUND,
    InboundMapping,
    Mapper,
    find_mapping,
    inbound_key,
    map_interchange,
    map_transaction,
)
from .outbound import OUTBOUND, Renderer, X12OutboundOptions, render_interchange, render_x12_event

__all__ = [
    "INBOUND",
    "InboundMapping",
    "Mapper",
    "find_mapping",
    "inbound_key",
    "map_interchange",
    "map_transaction",
    "OUTBOUND",
    "X12OutboundOptions",
    "Renderer",
    "render_x12_event",
    "render_interchange",
]
