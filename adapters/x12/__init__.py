"""X12 adapter: streaming codec, native model, implementation-guide tables, builder.

Wire ↔ native only (no mapping, no checking); see docs/x12.md. The public surface::

    parse(data) -> X12Document            render(doc | interchange) -> bytes
    iter_interchanges(stream)             iter_transaction_sets(stream)   iter_events(stream)
    Interchange ⊃ FunctionalGroup ⊃ TransactionSet ⊃ Segment      ts.loop("2300")
    InterchangeBuilder(sender, receiver, next_control)            default_registry()
"""

from adapters.x12.builder import ControlAllocator, InterchangeBuilder, counter_allocator
from adapters.x12.codec import X12Codec, parse, parse_interchange, render
from adapters.x12.delimiters import Delimiters
from adapters.x12.guides import Guide, GuideRegistry, default_registry
from adapters.x12.loops import Loop, LoopTree
from adapters.x12.model import FunctionalGroup, Interchange, TransactionSet, X12Document
from adapters.x12.reader import iter_events, iter_interchanges, iter_transaction_sets
from adapters.x12.segment import Segment

__all__ = [
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
