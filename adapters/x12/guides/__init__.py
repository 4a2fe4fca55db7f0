"""Implementation-guide tables as data, and the registry that finds them.

A guide table describes one transaction set in one version: the ST loop as nested loops
and segments, with usage (R required, S situational, N not used), max use, loop repeats,
element usage, data element numbers (for type and length), valid codes and X12 syntax
notes. Tables live in ``data/``:

* ``<version>.<set>.json`` — generated from pyx12's maps by ``tools/gen_from_pyx12.py``
  (837P, 837I, 835, 277, 277CA, 999, 834, 820, 997); never edited by hand.
* ``<version>.<set>.yaml`` — written by hand from the guides' and standards' segment
  tables, in the compact notation of :mod:`adapters.x12.guides.compact` (270/271, 276,
  850/855/856/810 in 004010 and 005010, TA1).

One generic loop builder (:mod:`adapters.x12.loops`) uses every table; there is no parsing
code per transaction set. Tables load lazily, once, on first use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from adapters.x12.guides.compact import expand, expand_segment
from adapters.x12.segment import Segment

__all__ = [
    "DATA_DIR",
    "ElementSpec",
    "Guide",
    "GuideRegistry",
    "LoopSpec",
    "Resolution",
    "SegmentSpec",
    "control_segments",
    "default_registry",
    "load_guide",
]

DATA_DIR = Path(__file__).resolve().parent / "data"


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True, slots=True)
class ElementSpec:
    """One element (or composite, or component) of a segment, as the guide defines it."""

    ref: str
    seq: int
    name: str = ""
    usage: str = "S"
    data_ele: str | None = None
    data_type: str | None = None
    min_len: int = 0
    max_len: int = 0
    codes: frozenset[str] | None = None
    codes_external: str | None = None
    regex: re.Pattern[str] | None = None
    #: how many repeats the element allows; None = unbounded
    repeat: int | None = 1
    components: tuple[ElementSpec, ...] = ()
    syntax: tuple[str, ...] = ()

    @property
    def is_composite(self) -> bool:
        return bool(self.components)


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    """A segment at one place in a guide (``NM1`` in 2010BA is not ``NM1`` in 2310B)."""

    id: str
    name: str = ""
    usage: str = "S"
    max_use: int | None = 1
    pos: int = 0
    elements: tuple[ElementSpec, ...] = ()
    syntax: tuple[str, ...] = ()
    #: the table does not describe every element (hand-written standard tables): no
    #: "too many data elements" check
    open: bool = False
    #: (element position, component position or None, codes) telling same-id siblings
    #: apart: element 01 when it is a required ID with codes, else composite 01-1, HL03
    #: for HL, ENT02 for ENT (the rule pyx12's maps are written for)
    key: tuple[int, int | None, frozenset[str]] | None = None

    def matches(self, seg: Segment) -> bool:
        if seg.id != self.id:
            return False
        if self.key is None:
            return True
        element, component, codes = self.key
        value = seg.element(element) if component is None else seg.component(element, component)
        return value in codes


@dataclass(frozen=True, slots=True)
class LoopSpec:
    """A loop: its id (``2300``), usage, repeat (None = unbounded) and ordered children."""

    id: str
    name: str = ""
    usage: str = "S"
    repeat: int | None = 1
    children: tuple[SegmentSpec | LoopSpec, ...] = ()
    #: per child, the segment id it starts with (the loop builder's fast compare)
    child_ids: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: per child, the index of the first child sharing its position number: same-position
    #: segments (a REF family) may come in any order
    position_groups: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = tuple(c.id if isinstance(c, SegmentSpec) else c.trigger.id for c in self.children)
        groups: list[int] = []
        for i, child in enumerate(self.children):
            prev = self.children[i - 1] if i else None
            same = (
                isinstance(child, SegmentSpec)
                and isinstance(prev, SegmentSpec)
                and bool(child.pos)
                and child.pos == prev.pos
            )
            groups.append(groups[-1] if same else i)
        object.__setattr__(self, "child_ids", ids)
        object.__setattr__(self, "position_groups", tuple(groups))

    @property
    def trigger(self) -> SegmentSpec:
        """The first segment of the loop, whose presence starts a new instance."""
        first = self.children[0]
        return first if isinstance(first, SegmentSpec) else first.trigger

    def walk(self) -> Iterator[SegmentSpec | LoopSpec]:
        for child in self.children:
            yield child
            if isinstance(child, LoopSpec):
                yield from child.walk()


@dataclass(frozen=True, slots=True)
class Guide:
    """One implementation guide (or standard) table for one transaction set."""

    id: str
    transaction_set: str
    functional_group: str
    name: str
    root: LoopSpec
    provenance: Mapping[str, str] = field(default_factory=dict)
    segment_ids: frozenset[str] = frozenset()

    def segments_named(self, segment_id: str) -> list[SegmentSpec]:
        return [n for n in self.root.walk() if isinstance(n, SegmentSpec) and n.id == segment_id]


# --------------------------------------------------------------------------- loading


@cache
def _data_elements() -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = json.loads((DATA_DIR / "dataelements.json").read_text())[
        "elements"
    ]
    return data


@cache
def _segment_layouts() -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = json.loads((DATA_DIR / "segments.json").read_text())["segments"]
    return data


@cache
def code_sets() -> dict[str, frozenset[str]]:
    """pyx12's external code lists by name (``states``, ``country``, ``pos`` …)."""
    raw = json.loads((DATA_DIR / "codesets.json").read_text())["codesets"]
    return {name: frozenset(codes) for name, codes in raw.items()}


def _element(raw: Mapping[str, Any]) -> ElementSpec:
    data_ele = raw.get("data_ele")
    dtype, min_len, max_len = _data_elements().get(data_ele or "", [None, 0, 0])
    codes = raw.get("codes")
    regex = raw.get("regex")
    return ElementSpec(
        ref=raw["ref"] or "",
        seq=int(raw.get("seq", 0)),
        name=raw.get("name", ""),
        usage=raw.get("usage", "S"),
        data_ele=data_ele,
        data_type=dtype,
        min_len=min_len,
        max_len=max_len,
        codes=frozenset(codes) if codes else None,
        codes_external=raw.get("codes_external"),
        regex=re.compile(regex) if regex else None,
        repeat=raw.get("repeat", 1),
        components=tuple(_element(c) for c in raw.get("components", ())),
        syntax=tuple(raw.get("syntax", ())),
    )


def _key(
    seg_id: str, elements: tuple[ElementSpec, ...]
) -> tuple[int, int | None, frozenset[str]] | None:
    first = elements[0] if elements else None
    if (
        first is not None
        and not first.is_composite
        and first.codes
        and first.usage == "R"
        and first.data_type in ("ID", None)
    ):
        return (1, None, first.codes)
    if seg_id == "ENT" and len(elements) > 1 and elements[1].codes:
        return (2, None, elements[1].codes)
    if first is not None and first.is_composite and first.components[0].codes:
        return (1, 1, first.components[0].codes)
    if seg_id == "HL" and len(elements) > 2 and elements[2].codes:
        return (3, None, elements[2].codes)
    return None


def _segment(raw: Mapping[str, Any]) -> SegmentSpec:
    elements = tuple(_element(e) for e in raw.get("elements", ()))
    seg_id = raw["segment"]
    return SegmentSpec(
        id=seg_id,
        name=raw.get("name", ""),
        usage=raw.get("usage", "S"),
        max_use=raw.get("max_use", 1),
        pos=int(raw.get("pos", 0)),
        elements=elements,
        syntax=tuple(raw.get("syntax", ())),
        open=bool(raw.get("open", False)),
        key=_key(seg_id, elements),
    )


def _loop(raw: Mapping[str, Any]) -> LoopSpec:
    children = tuple(_loop(c) if "loop" in c else _segment(c) for c in raw.get("children", ()))
    return LoopSpec(
        id=raw["loop"],
        name=raw.get("name", ""),
        usage=raw.get("usage", "S"),
        repeat=raw.get("repeat", 1),
        children=children,
    )


def guide_from_dict(raw: Mapping[str, Any]) -> Guide:
    """Build a :class:`Guide` from the JSON shape (see ``tools/gen_from_pyx12.py``)."""
    root = _loop(raw["root"])
    ids = frozenset(n.id for n in root.walk() if isinstance(n, SegmentSpec))
    return Guide(
        id=raw["id"],
        transaction_set=str(raw["transaction_set"]),
        functional_group=raw.get("functional_group", ""),
        name=raw.get("name", ""),
        root=root,
        provenance=raw.get("provenance", {}),
        segment_ids=ids,
    )


@cache
def load_guide(path: Path) -> Guide:
    """Load one table file (``.json`` generated, ``.yaml`` hand-written compact)."""
    if path.suffix == ".json":
        return guide_from_dict(json.loads(path.read_text()))
    doc = yaml.safe_load(path.read_text())
    if "same_as" in doc:
        # a version whose table is declared identical to another version's
        base = load_guide(path.with_name(f"{doc['same_as']}.{doc['transaction_set']}.yaml"))
        return Guide(
            id=str(doc["id"]),
            transaction_set=base.transaction_set,
            functional_group=base.functional_group,
            name=base.name,
            root=base.root,
            provenance={
                **base.provenance,
                **doc.get("provenance", {}),
                "same_as": str(doc["same_as"]),
            },
            segment_ids=base.segment_ids,
        )
    return guide_from_dict(expand(doc, _segment_layouts()))


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class Resolution:
    """Which table answers a (set, version) and how it was chosen."""

    guide: Guide
    #: ``exact``, ``alias`` (a close relative, see aliases.yaml) or ``base`` (the plain
    #: standard table for an industry-qualified version such as ``004010VICS``)
    how: str
    note: str = ""


class GuideRegistry:
    """Tables by (transaction set, version), with aliases; an explicit value to wire."""

    def __init__(
        self,
        files: Mapping[tuple[str, str], Path],
        aliases: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self._files = dict(files)
        self._aliases = dict(aliases or {})

    @classmethod
    def from_directory(cls, directory: Path) -> GuideRegistry:
        """Every ``<version>.<set>.json|yaml`` in ``directory``, plus its ``aliases.yaml``."""
        files: dict[tuple[str, str], Path] = {}
        for path in sorted(directory.iterdir()):
            parts = path.name.split(".")
            if len(parts) == 3 and parts[2] in ("json", "yaml") and parts[1].isalnum():
                files[(parts[1], parts[0])] = path
        aliases: dict[str, tuple[str, str]] = {}
        alias_file = directory / "aliases.yaml"
        if alias_file.exists():
            for version, (target, reason) in yaml.safe_load(alias_file.read_text()).items():
                aliases[str(version)] = (str(target), str(reason))
        return cls(files, aliases)

    @property
    def keys(self) -> list[tuple[str, str]]:
        """(transaction set, version) pairs this registry has tables for."""
        return sorted(self._files)

    def knows_set(self, ts_id: str) -> bool:
        return any(ts == ts_id for ts, _ in self._files)

    def resolve(self, ts_id: str, version: str) -> Resolution | None:
        """The table for ST01 ``ts_id`` in ``version`` (ST03, else GS08)."""
        if (ts_id, version) in self._files:
            return Resolution(load_guide(self._files[(ts_id, version)]), "exact")
        target = self._aliases.get(version)
        if target is not None and (ts_id, target[0]) in self._files:
            return Resolution(load_guide(self._files[(ts_id, target[0])]), "alias", target[1])
        base = version[:6]
        if base != version and (ts_id, base) in self._files:
            return Resolution(
                load_guide(self._files[(ts_id, base)]),
                "base",
                f"{version} validated against the {base} standard table",
            )
        return None

    def find(self, ts_id: str, version: str, functional_id: str = "") -> Guide | None:
        found = self.resolve(ts_id, version)
        return found.guide if found else None


@cache
def control_segments() -> dict[str, SegmentSpec]:
    """Segments outside groups (the TA1), from ``data/control.yaml``."""
    doc = yaml.safe_load((DATA_DIR / "control.yaml").read_text())
    specs = [_segment(expand_segment(line, _segment_layouts())) for line in doc["segments"]]
    return {spec.id: spec for spec in specs}


@cache
def default_registry() -> GuideRegistry:
    """The tables shipped in ``adapters/x12/guides/data``."""
    return GuideRegistry.from_directory(DATA_DIR)
