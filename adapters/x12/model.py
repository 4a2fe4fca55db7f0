"""The native X12 model: Interchange ⊃ FunctionalGroup ⊃ TransactionSet ⊃ Segment.

Each container keeps its parts in the order they were read — including segments that sit
where they should not (a TA1 after the ISA, a stray segment between SE and GE) — so that
rendering gives back the exact input. Missing trailers are ``None`` (``ts.se``,
``group.ge``, ``interchange.iea``); judging that is conformance's job, not the codec's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from adapters.x12.delimiters import Delimiters
from adapters.x12.guides import Guide, GuideRegistry, default_registry
from adapters.x12.loops import Loop, LoopTree, build_tree
from adapters.x12.segment import Segment

__all__ = ["FunctionalGroup", "Interchange", "TransactionSet", "X12Document"]


@dataclass(eq=False, slots=True)
class TransactionSet:
    """ST … SE, with the envelope it travelled in (``isa``, ``gs``) for context."""

    segments: list[Segment]
    se: Segment | None = None
    isa: Segment | None = None
    gs: Segment | None = None
    #: ordinal of the interchange in its file, of the group in its interchange, of this
    #: set in its group (0-based) — for locating findings without control numbers
    interchange_index: int = 0
    group_index: int = 0
    index: int = 0
    _tree: LoopTree | None = field(default=None, repr=False)

    @property
    def st(self) -> Segment:
        return self.segments[0]

    @property
    def id(self) -> str:
        """ST01, the transaction set identifier code (``837``, ``835``, ``270`` …)."""
        return self.st.element(1)

    @property
    def control_number(self) -> str:
        """ST02."""
        return self.st.element(2)

    @property
    def version(self) -> str:
        """ST03 (implementation convention reference) when present, else GS08."""
        return self.st.element(3) or (self.gs.element(8) if self.gs is not None else "")

    @property
    def delimiters(self) -> Delimiters:
        return self.st.delimiters

    @property
    def body(self) -> list[Segment]:
        """The segments between ST and SE."""
        end = len(self.segments) - 1 if self.se is not None else len(self.segments)
        return self.segments[1:end]

    def position(self, segment: Segment) -> int:
        """Segment position within the set, ST = 1 (999 IK302 / 997 AK302)."""
        for i, seg in enumerate(self.segments):
            if seg is segment:
                return i + 1
        raise ValueError("segment is not in this transaction set")

    # ------------------------------------------------------------------ guide view

    def guide(self, registry: GuideRegistry | None = None) -> Guide | None:
        """The implementation-guide table for ST01 + ST03/GS08, if one is known."""
        return (registry or default_registry()).find(
            self.id, self.version, self.gs.element(1) if self.gs else ""
        )

    def tree(self, registry: GuideRegistry | None = None) -> LoopTree:
        """The loop tree built from the guide table (a flat ST loop when no guide is known).

        Built once and cached for the default registry; rebuilt for an explicit one.
        """
        if self._tree is None or registry is not None:
            tree = build_tree(self.segments, self.guide(registry))
            if registry is not None:
                return tree
            self._tree = tree
        return self._tree

    def loop(self, loop_id: str) -> Loop | None:
        """The first loop ``loop_id`` (``"2300"``, ``"2010BA"``) in document order."""
        return self.tree().find(loop_id)

    def loops(self, loop_id: str) -> list[Loop]:
        """Every loop ``loop_id`` in document order."""
        return self.tree().find_all(loop_id)

    def render(self) -> str:
        return "".join(seg.render() for seg in self.segments)

    def release(self) -> None:
        """Forget what reading the set built — its loop tree, its segments' split
        elements — keeping only the text; both come back on the next use. A large file's
        sets, checked or mapped, thus cost little more than their text."""
        self._tree = None
        for seg in self.segments:
            seg.release()


@dataclass(eq=False, slots=True)
class FunctionalGroup:
    """GS … GE. ``parts`` are the transaction sets and any stray segments, in order."""

    gs: Segment
    parts: list[TransactionSet | Segment] = field(default_factory=list)
    ge: Segment | None = None
    index: int = 0

    @property
    def transaction_sets(self) -> list[TransactionSet]:
        return [p for p in self.parts if isinstance(p, TransactionSet)]

    @property
    def strays(self) -> list[Segment]:
        """Segments inside the group but outside any transaction set."""
        return [p for p in self.parts if isinstance(p, Segment)]

    @property
    def functional_id(self) -> str:
        """GS01 (``HC``, ``HP``, ``PO`` …)."""
        return self.gs.element(1)

    @property
    def control_number(self) -> str:
        """GS06."""
        return self.gs.element(6)

    @property
    def version(self) -> str:
        """GS08 (``005010X222A1``, ``004010`` …)."""
        return self.gs.element(8)

    def render(self) -> str:
        out = [self.gs.render()]
        out.extend(p.render() for p in self.parts)
        if self.ge is not None:
            out.append(self.ge.render())
        return "".join(out)


@dataclass(eq=False, slots=True)
class Interchange:
    """ISA … IEA, plus the text found before it and (for the last one) after it."""

    isa: Segment
    parts: list[FunctionalGroup | TransactionSet | Segment] = field(default_factory=list)
    iea: Segment | None = None
    leading: str = ""
    trailing: str = ""
    #: the ISA had the X12.5 106-character fixed layout
    isa_fixed_width: bool = True
    index: int = 0

    @property
    def delimiters(self) -> Delimiters:
        return self.isa.delimiters

    @property
    def groups(self) -> list[FunctionalGroup]:
        return [p for p in self.parts if isinstance(p, FunctionalGroup)]

    @property
    def strays(self) -> list[Segment | TransactionSet]:
        """Segments (e.g. a TA1) and transaction sets outside any functional group."""
        return [p for p in self.parts if not isinstance(p, FunctionalGroup)]

    @property
    def control_number(self) -> str:
        """ISA13."""
        return self.isa.element(13)

    @property
    def sender(self) -> tuple[str, str]:
        """(ISA05, ISA06) with ISA06's fixed-width padding removed."""
        return self.isa.element(5), self.isa.element(6).strip()

    @property
    def receiver(self) -> tuple[str, str]:
        """(ISA07, ISA08) with ISA08's padding removed."""
        return self.isa.element(7), self.isa.element(8).strip()

    @property
    def version(self) -> str:
        """ISA12 (``00501``, ``00401``)."""
        return self.isa.element(12)

    def transaction_sets(self) -> Iterator[TransactionSet]:
        for part in self.parts:
            if isinstance(part, FunctionalGroup):
                yield from part.transaction_sets
            elif isinstance(part, TransactionSet):
                yield part

    def render(self) -> str:
        out = [self.leading, self.isa.render()]
        out.extend(p.render() for p in self.parts)
        if self.iea is not None:
            out.append(self.iea.render())
        out.append(self.trailing)
        return "".join(out)


@dataclass(eq=False, slots=True)
class X12Document:
    """Everything in one file: its interchanges, in order."""

    interchanges: list[Interchange] = field(default_factory=list)

    def render(self) -> str:
        return "".join(ic.render() for ic in self.interchanges)

    def transaction_sets(self) -> Iterator[TransactionSet]:
        for ic in self.interchanges:
            yield from ic.transaction_sets()
