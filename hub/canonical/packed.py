"""``PackedEvents``: a sequence of events kept compact until each is published.

A large X12 file maps to one event per claim; as model objects an 837 claim event takes
about 27 KB — sixty times the ~440 bytes of X12 it came from — so a file of 18,000 claims
would hold half a gigabyte of events between mapping and publishing. Packed (the event's
JSON, zlib level 1) it takes about 1.7 KB. Reading an item builds the event again; it is
equal to the one packed (the JSON round trip is the one the broker makes anyway).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import overload

from hub.canonical.events import Event

__all__ = ["PackedEvents"]


class PackedEvents(Sequence[Event]):
    """Events as compressed JSON, in order; ``extend`` packs, indexing unpacks. The ids are
    kept apart, so the pipeline can give each event its stable id (``assign_id``) without
    packing it again."""

    __slots__ = ("_ids", "_items")

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._ids: list[str] = []
        self._items: list[bytes] = []
        self.extend(events)

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self._ids.append(event.id)
            packed = event.model_dump_json(exclude={"id"}).encode()
            self._items.append(zlib.compress(packed, 1))

    def assign_id(self, index: int, event_id: str) -> None:
        """The event at ``index`` has the id ``event_id`` from now on."""
        self._ids[index] = event_id

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            return [self._unpack(i) for i in range(len(self._items))[index]]
        return self._unpack(index)

    def _unpack(self, index: int) -> Event:
        event = Event.model_validate_json(zlib.decompress(self._items[index]))
        event.id = self._ids[index]
        return event

    def packed_bytes(self) -> int:
        """What the packed events take (their compressed JSON)."""
        return sum(len(item) for item in self._items)
