"""The public surface of the X12 mappings is locked: a change here is a decision."""

from __future__ import annotations

import mappings.x12 as x12map
import mappings.x12.outbound as outbound


def test_inbound_surface() -> None:
    assert sorted(x12map.__all__) == sorted(
        [
            "INBOUND",
            "InboundMapping",
            "Mapper",
            "OUTBOUND",
            "OutboundOptions",
            "Renderer",
            "find_mapping",
            "inbound_key",
            "map_interchange",
            "map_transaction",
            "render_event",
            "render_interchange",
        ]
    )
    for name in x12map.__all__:
        assert getattr(x12map, name) is not None


def test_outbound_surface() -> None:
    assert sorted(outbound.__all__) == [
        "OUTBOUND",
        "OutboundOptions",
        "Renderer",
        "render_event",
        "render_interchange",
    ]
