"""The generic loop builder: a transaction set's segments → its loop tree, from a guide table.

One algorithm for every transaction set (no parsing code per set). It walks the table the
way the implementation guides read: each open loop has a cursor; a segment is looked for
from the innermost loop's cursor forward (segments sharing a position number may come in
any order, as in the guides), then in the enclosing loops — a loop's first segment (its
trigger) found there starts a new instance. Same-id segments are told apart by their
qualifier (``NM101``, ``REF01``, ``HL03`` …, see ``SegmentSpec.key``).

What the walk cannot place, or finds missing or repeated too often, is recorded as neutral
``StructureNote`` data with its X12 segment syntax code (999 IK304 / 997 AK304); turning
notes into findings and acknowledgements is conformance's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from adapters.x12.guides import Guide, LoopSpec, SegmentSpec
from adapters.x12.segment import Segment

__all__ = ["Loop", "LoopTree", "Placed", "StructureNote", "build_tree"]

_VALID_ID = re.compile(r"[A-Z0-9]{2,3}\Z")
ROOT_ID = "ST_LOOP"


@dataclass(eq=False, slots=True)
class Loop:
    """One loop instance: its id, its table entry and its segments and child loops in order."""

    id: str
    spec: LoopSpec | None = None
    items: list[Segment | Loop] = field(default_factory=list)

    @property
    def segments(self) -> list[Segment]:
        """The loop's own segments (not those of child loops)."""
        return [i for i in self.items if isinstance(i, Segment)]

    def loops(self, loop_id: str | None = None) -> list[Loop]:
        """Direct child loops, optionally only those with ``loop_id``."""
        return [i for i in self.items if isinstance(i, Loop) and loop_id in (None, i.id)]

    def segment(self, segment_id: str, qualifier: str | None = None) -> Segment | None:
        """The first own segment ``segment_id`` (with element 01 = ``qualifier`` if given)."""
        for seg in self.segments:
            if seg.id == segment_id and (qualifier is None or seg.element(1) == qualifier):
                return seg
        return None

    def find(self, loop_id: str) -> Loop | None:
        """The first descendant loop ``loop_id``, depth first, in document order."""
        for item in self.items:
            if isinstance(item, Loop):
                if item.id == loop_id:
                    return item
                found = item.find(loop_id)
                if found is not None:
                    return found
        return None

    def find_all(self, loop_id: str) -> list[Loop]:
        out: list[Loop] = []
        for item in self.items:
            if isinstance(item, Loop):
                if item.id == loop_id:
                    out.append(item)
                out.extend(item.find_all(loop_id))
        return out

    def walk(self) -> Iterator[Segment]:
        """Every segment under this loop, in document order."""
        for item in self.items:
            if isinstance(item, Loop):
                yield from item.walk()
            else:
                yield item


@dataclass(frozen=True, slots=True)
class StructureNote:
    """Something the walk found about a segment's place (999 IK3 material).

    ``code`` is the X12 implementation segment syntax error code (element 620):
    1 unrecognized segment id, 2 unexpected segment, 3 required segment missing, 4 loop
    over maximum times, 5 segment over maximum use, 6 segment not in the transaction set,
    7 segment not in proper sequence, I4 "not used" segment present.
    """

    code: str
    segment_id: str
    position: int
    loop_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Placed:
    """A segment, its position in the set (ST = 1), the table entry it matched and loop."""

    position: int
    segment: Segment
    spec: SegmentSpec | None
    loop_id: str


@dataclass(eq=False, slots=True)
class LoopTree:
    """The built tree plus what the walk noticed; ``guide`` None means no table was known."""

    root: Loop
    guide: Guide | None
    placed: list[Placed] = field(default_factory=list)
    notes: list[StructureNote] = field(default_factory=list)

    def find(self, loop_id: str) -> Loop | None:
        return self.root.find(loop_id)

    def find_all(self, loop_id: str) -> list[Loop]:
        return self.root.find_all(loop_id)


# --------------------------------------------------------------------------- the walk


class _Frame:
    __slots__ = ("counts", "groups", "ids", "idx", "loop", "missing", "spec")

    def __init__(self, spec: LoopSpec, loop: Loop) -> None:
        self.spec = spec
        self.loop = loop
        self.idx = -1
        self.counts = [0] * len(spec.children)
        self.ids, self.groups = spec.child_ids, spec.position_groups
        #: required children already reported missing (the cursor went past them)
        self.missing: set[int] = set()


class _Walker:
    def __init__(self, guide: Guide, tree: LoopTree) -> None:
        self.guide = guide
        self.tree = tree
        self.stack = [_Frame(guide.root, tree.root)]

    def feed(self, pos: int, seg: Segment) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            frame = self.stack[depth]
            hit = _search(frame, seg)
            if hit is not None:
                while len(self.stack) > depth + 1:
                    self._close(self.stack.pop(), pos)
                self._apply(frame, hit, seg, pos)
                return
        if seg.id == "HL" and self._hierarchical(seg, pos):
            return
        self._unplaced(seg, pos)

    def _hierarchical(self, seg: Segment, pos: int) -> bool:
        """An HL may go back up the hierarchy: its loop is found behind the cursor too.

        The HL parent/child numbering (HL01/HL02), not the segment order, carries the
        hierarchy (X12.6); the guides order HL levels top-down but any level may follow
        the deepest one.
        """
        for depth in range(len(self.stack) - 1, -1, -1):
            frame = self.stack[depth]
            for i, child in enumerate(frame.spec.children):
                if isinstance(child, LoopSpec) and child.trigger.matches(seg):
                    while len(self.stack) > depth + 1:
                        self._close(self.stack.pop(), pos)
                    self._apply(frame, i, seg, pos)
                    return True
        return False

    def finish(self, pos: int) -> None:
        while self.stack:
            self._close(self.stack.pop(), pos)

    def _apply(self, frame: _Frame, i: int, seg: Segment, pos: int, loose: bool = False) -> None:
        child = frame.spec.children[i]
        if i > frame.idx:
            self._skipped(frame, range(frame.idx + 1, frame.groups[i]), pos)
        frame.idx = i
        frame.counts[i] += 1
        if isinstance(child, SegmentSpec):
            self._place(frame, child, seg, pos)
            return
        if child.repeat is not None and frame.counts[i] > child.repeat:
            self._note(
                "4", seg.id, pos, child.id, f"loop {child.id} occurs more than {child.repeat} times"
            )
        inner = _Frame(child, Loop(child.id, child))
        frame.loop.items.append(inner.loop)
        self.stack.append(inner)
        hit = _search(inner, seg, loose=loose, entering=True)
        if hit is not None:
            self._apply(inner, hit, seg, pos, loose)

    def _place(self, frame: _Frame, spec: SegmentSpec, seg: Segment, pos: int) -> None:
        count = frame.counts[frame.idx]
        if spec.max_use is not None and count > spec.max_use:
            self._note(
                "5", seg.id, pos, frame.spec.id, f"{seg.id} used more than {spec.max_use} times"
            )
        if spec.usage == "N":
            self._note("I4", seg.id, pos, frame.spec.id, f"{seg.id} is not used in this guide")
        frame.loop.items.append(seg)
        self.tree.placed.append(Placed(pos, seg, spec, frame.spec.id))

    def _close(self, frame: _Frame, pos: int) -> None:
        self._skipped(frame, range(len(frame.spec.children)), pos)

    def _skipped(self, frame: _Frame, indices: range, pos: int) -> None:
        """Required children the cursor passes (or the loop ends) without: missing, noted
        once, at the position of the segment that showed it (999 IK302)."""
        for i in indices:
            child = frame.spec.children[i]
            if child.usage != "R" or frame.counts[i] or i in frame.missing:
                continue
            frame.missing.add(i)
            seg_id = frame.ids[i]
            if seg_id in ("ST", "SE"):
                continue  # trailers are the envelope checks' business
            loop_id = child.id if isinstance(child, LoopSpec) else frame.spec.id
            self._note("3", seg_id, pos, loop_id, f"required {seg_id} missing in {loop_id}")

    def _unplaced(self, seg: Segment, pos: int) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            loose = _search(self.stack[depth], seg, loose=True)
            if loose is not None:
                # right segment, wrong qualifier: place it; the element check flags the code
                while len(self.stack) > depth + 1:
                    self._close(self.stack.pop(), pos)
                self._apply(self.stack[-1], loose, seg, pos, loose=True)
                return
        frame = self.stack[-1]
        code, text = self._classify(seg)
        self._note(code, seg.id, pos, frame.spec.id, text)
        frame.loop.items.append(seg)
        self.tree.placed.append(Placed(pos, seg, None, frame.spec.id))

    def _classify(self, seg: Segment) -> tuple[str, str]:
        if not _VALID_ID.match(seg.id):
            return "1", "unrecognized segment id"
        if seg.id not in self.guide.segment_ids:
            return "6", f"{seg.id} is not in transaction set {self.guide.transaction_set}"
        for frame in self.stack:
            for i in range(0, max(frame.idx, 0)):
                child = frame.spec.children[i]
                spec = child if isinstance(child, SegmentSpec) else child.trigger
                if spec.matches(seg):
                    return "7", f"{seg.id} is out of sequence"
        return "2", f"{seg.id} is not expected here"

    def _note(self, code: str, seg_id: str, pos: int, loop_id: str, text: str) -> None:
        self.tree.notes.append(StructureNote(code, seg_id, pos, loop_id, text))


def _search(frame: _Frame, seg: Segment, loose: bool = False, entering: bool = False) -> int | None:
    """Index of the child matching ``seg`` at or after the frame's cursor (its group).

    A loop's trigger (child 0) matches only when the loop is being entered: met again
    inside the loop it starts the next instance, which the enclosing loop decides.
    """
    children = frame.spec.children
    ids = frame.ids
    start = frame.groups[frame.idx] if frame.idx >= 0 else 0
    if not entering and frame.spec.id != ROOT_ID:
        start = max(start, 1)
    sid = seg.id
    for i in range(start, len(children)):
        if ids[i] != sid:
            continue
        child = children[i]
        spec = child if isinstance(child, SegmentSpec) else child.trigger
        if loose or spec.matches(seg):
            return i
    return None


def build_tree(segments: list[Segment], guide: Guide | None) -> LoopTree:
    """The loop tree of one transaction set (``segments`` = ST … SE) under ``guide``.

    Without a guide the tree is one flat ST loop and nothing is noted.
    """
    tree = LoopTree(Loop(ROOT_ID, guide.root if guide else None), guide)
    if guide is None:
        tree.root.items.extend(segments)
        tree.placed.extend(Placed(i + 1, s, None, ROOT_ID) for i, s in enumerate(segments))
        return tree
    walker = _Walker(guide, tree)
    for pos, seg in enumerate(segments, 1):
        walker.feed(pos, seg)
    walker.finish(len(segments) + 1 if segments and segments[-1].id != "SE" else len(segments))
    return tree
