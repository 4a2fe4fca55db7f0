"""What a message carries beyond what its version defines: site-defined Z-segments, fields
past the end of a segment, repetitions of a field that does not repeat, components past the
end of a data type, subcomponents in a component that has none.

HL7 v2.7.1 §2.6.2 (rules for the recipient) tells a receiver to ignore segments, fields,
components, subcomponents and extra repetitions present but not expected: none of it makes
the rest ambiguous. So each is a *warning* naming the field and saying what is not read —
on a port with ``reading: strict`` too (``check_message`` escalates only the real
departures: MSH-11, MSH-12, envelopes) — at most one per segment id per message (the others
counted in its text). A Z-segment is an *information* finding: site-defined, expected, kept
in the raw message. What the hub's mappings read beyond a version's definition
(``READ_BEYOND``) is never flagged, and fields hl7apy types wrongly (``NOT_JUDGED``) are not
judged. The definitions are hl7apy's, for the message's MSH-12 version (2.7.1 read as 2.7),
loaded once per segment and version.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from adapters.hl7v2 import Message, Segment
from hub.findings import Finding, Severity

from .codes import ErrorCode

__all__ = ["NOT_JUDGED", "READ_BEYOND", "FieldShape", "check_shape", "segment_shape"]

#: fields and components that a version does not define but the hub reads (or a common
#: implementation guide defines), so they are never flagged as "beyond the definition":
#: ``SEG-n`` a field, ``SEG-n.c`` a component (and every one before it)
READ_BEYOND: dict[str, str] = {
    "MSH-9.3": "message structure, from v2.3.1; read in every version to pick the structure",
    "MSH-22": "sending responsible organization, v2.7+; CDC immunization IG in 2.5.1",
    "MSH-23": "receiving responsible organization, v2.7+; CDC immunization IG in 2.5.1",
    "MSH-24": "sending network address, v2.7+; used by IGs in 2.5.1",
    "MSH-25": "receiving network address, v2.7+; used by IGs in 2.5.1",
    "AL1-6": "identification date, withdrawn in v2.7; mapped as the allergy's onset",
}
#: fields whose hl7apy definition is wrong for what senders put there: not judged.
#: PR1-11 (surgeon) and PR1-12 (anesthesiologist) are XCN, withdrawn in v2.7; hl7apy's
#: 2.8 tables type them NM, so every surgeon's name would be "15 components, NM has 1"
NOT_JUDGED: frozenset[tuple[str, int]] = frozenset({("PR1", 11), ("PR1", 12)})

#: at most this many findings of this kind per message (a feed with a systematic habit
#: would otherwise fill the ACK with the same warning)
_MAX_FINDINGS = 20


@dataclass(frozen=True, slots=True)
class FieldShape:
    """One field as a version defines it: its data type, whether it repeats, and for each
    component how many subcomponents it has (1 for a primitive component)."""

    datatype: str
    repeats: bool
    components: tuple[int, ...]


def _version_library(version: str | None) -> str | None:
    from hl7apy import SUPPORTED_LIBRARIES

    if not version:
        return None
    if version in SUPPORTED_LIBRARIES:
        return version
    short = ".".join(version.split(".")[:2])
    return short if short in SUPPORTED_LIBRARIES else None


def _components(ref: Any) -> tuple[int, ...]:
    if ref[0] != "sequence":
        return (1,)
    return tuple(len(child[1][1]) if child[1][0] == "sequence" else 1 for child in ref[1])


@lru_cache(maxsize=512)
def segment_shape(seg_id: str, version: str) -> dict[int, FieldShape] | None:
    """The fields of ``seg_id`` in ``version`` by field number (hl7apy leaves out some
    withdrawn ones, so the numbers come from its names: ``EVN_2``); None when the version
    or the segment is unknown to hl7apy."""
    from hl7apy import load_reference
    from hl7apy.exceptions import ChildNotFound

    library = _version_library(version)
    if library is None:
        return None
    try:
        ref = load_reference(seg_id, "Segment", library)
    except ChildNotFound:
        return None
    shapes: dict[int, FieldShape] = {}
    for child in ref[1]:
        number = int(str(child[0]).rsplit("_", 1)[1])
        field_ref, (_, high) = child[1], child[2]
        shapes[number] = FieldShape(str(field_ref[2]), high != 1, _components(field_ref))
    return shapes


def check_shape(message: Message) -> list[Finding]:
    """Warnings (information for a Z-segment) for what ``message`` carries beyond its
    version's definitions: the first per segment id, the others counted in its text."""
    version = message.version
    found: list[Finding] = []
    first: dict[str, int] = {}  # segment id → index of its warning in ``found``
    more: dict[str, int] = {}
    counts: dict[str, int] = {}
    for seg in message.segments:
        occurrence = counts[seg.id] = counts.get(seg.id, 0) + 1
        where = seg.id if occurrence == 1 else f"{seg.id}[{occurrence}]"
        if seg.id.startswith("Z"):
            if any(f.strip() for f in seg.fields[1:]) and seg.id not in first:
                first[seg.id] = len(found)
                found.append(
                    Finding(
                        Severity.INFORMATION,
                        "informational",
                        f"{where} is a site-defined segment: not mapped (kept in the raw message)",
                        where,
                    )
                )
            continue
        shape = segment_shape(seg.id, version) if version else None
        if shape is None:
            continue
        departures = _check_segment(seg, where, shape, version or "")
        if not departures:
            continue
        if seg.id in first:
            more[seg.id] = more.get(seg.id, 0) + len(departures)
            continue
        first[seg.id] = len(found)
        more[seg.id] = len(departures) - 1
        found.append(departures[0])
        if len(found) >= _MAX_FINDINGS:
            break
    for seg_id, count in more.items():
        if count:
            f = found[first[seg_id]]
            found[first[seg_id]] = Finding(
                f.severity,
                f.code,
                f"{f.text} (and {count} more in {seg_id})",
                f.location,
                f.format_code,
            )
    return found[:_MAX_FINDINGS]


#: data types whose definition says nothing of what a sender puts there: ``varies`` (OBX-5,
#: read by OBX-2) and ``WD``, a withdrawn field that senders still fill in its old type
_UNDEFINED = frozenset({"varies", "WD"})


def _check_segment(
    seg: Segment, where: str, shape: dict[int, FieldShape], version: str
) -> list[Finding]:
    enc = seg.enc
    rep, comp, sub = enc.repetition, enc.component, enc.subcomponent
    first = 3 if seg.is_header else 1
    out: list[Finding] = []
    defined = max(shape, default=0)
    beyond = [
        n
        for n in range(defined + 1, len(seg.fields))
        if seg.fields[n].strip() and f"{seg.id}-{n}" not in READ_BEYOND
    ]
    if beyond:
        span = f"{where}-{beyond[0]}" + (f" to {where}-{beyond[-1]}" if len(beyond) > 1 else "")
        out.append(
            _warning(
                f"{span}: past the last field {seg.id} has in {version} ({seg.id}-{defined}): "
                "not read",
                f"{where}-{beyond[0]}",
            )
        )
    for number in range(first, min(len(seg.fields), defined + 1)):
        text = seg.fields[number]
        if not text:
            continue
        if not ((rep and rep in text) or (comp and comp in text) or (sub and sub in text)):
            continue
        field = shape.get(number)
        if field is None or field.datatype in _UNDEFINED or (seg.id, number) in NOT_JUDGED:
            continue
        read = _components_read(f"{seg.id}-{number}", len(field.components))
        out.extend(_check_field(text, f"{where}-{number}", field, read, version, rep, comp, sub))
    return out


def _components_read(field: str, defined: int) -> int:
    """How many components of ``field`` are read: its definition's, or more where
    ``READ_BEYOND`` names a later one (``MSH-9.3`` in v2.3)."""
    read = defined
    while f"{field}.{read + 1}" in READ_BEYOND:
        read += 1
    return read


def _check_field(
    text: str,
    loc: str,
    field: FieldShape,
    read: int,
    version: str,
    rep: str,
    comp: str,
    sub: str,
) -> list[Finding]:
    reps = text.split(rep) if rep else [text]
    out: list[Finding] = []
    if not field.repeats and any(r.strip() for r in reps[1:]):
        out.append(
            _warning(
                f"{loc} does not repeat in {version} but has {len(reps)} repetitions: "
                "only the first is read",
                loc,
            )
        )
        reps = reps[:1]
    for n, one in enumerate(reps, 1):
        at = loc if len(reps) == 1 else f"{loc}({n})"
        components = one.split(comp) if comp else [one]
        while components and not components[-1].strip():
            components.pop()
        allowed = len(field.components)
        if len(components) > read:
            span = f"{loc}.{read + 1}"
            if len(components) > read + 1:
                span += f" to {loc}.{len(components)}"
            out.append(
                _warning(
                    f"{at} has {len(components)} components, {field.datatype} has {allowed} "
                    f"in {version}: {span} not read",
                    f"{at}.{read + 1}",
                )
            )
        if not sub:
            continue
        for c, (piece, subs) in enumerate(zip(components, field.components, strict=False), 1):
            parts = piece.split(sub)
            while parts and not parts[-1].strip():
                parts.pop()
            if len(parts) > subs:
                what = "no subcomponents" if subs == 1 else f"{subs} subcomponents"
                out.append(
                    _warning(
                        f"{at}.{c} has {len(parts)} subcomponents, {field.datatype}.{c} has "
                        f"{what} in {version}: all after the {_nth(subs)} not read",
                        f"{at}.{c}.{subs + 1}",
                    )
                )
    return out


def _nth(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


def _warning(text: str, location: str, code: str = ErrorCode.DATA_TYPE_ERROR) -> Finding:
    return Finding(Severity.WARNING, "structure", text, location, code)
