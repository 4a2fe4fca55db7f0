"""The public surfaces of the X12 adapter and conformance packages are locked here."""

from __future__ import annotations

import adapters.x12
import conformance.x12


def test_adapter_surface() -> None:
    assert sorted(adapters.x12.__all__) == [
        "ControlAllocator",
        "Delimiters",
        "FunctionalGroup",
        "Guide",
        "GuideRegistry",
        "Interchange",
        "InterchangeBuilder",
        "Loop",
        "LoopTree",
        "Segment",
        "TransactionSet",
        "X12Codec",
        "X12Document",
        "counter_allocator",
        "default_registry",
        "iter_events",
        "iter_interchanges",
        "iter_transaction_sets",
        "parse",
        "parse_interchange",
        "render",
    ]
    assert all(hasattr(adapters.x12, name) for name in adapters.x12.__all__)


def test_conformance_surface() -> None:
    assert sorted(conformance.x12.__all__) == [
        "Acknowledgment",
        "InterchangeVerdict",
        "Level",
        "SeenControl",
        "X12Finding",
        "acknowledge",
        "check_interchange",
        "check_transaction_set",
        "judge",
        "refuse_unreadable",
        "render_997",
        "render_999",
        "render_ta1",
        "x12_findings",
    ]
    assert all(hasattr(conformance.x12, name) for name in conformance.x12.__all__)
