"""Strict validation against the HL7 v2 definitions that hl7apy ships (the slow path).

Two checks, both reported as findings:

* segment order and cardinality, matched here against hl7apy's message structure (groups,
  optionality, repetition) with a small automaton — hl7apy's own parser files segments into
  groups by name and does not notice a segment out of order;
* fields, components and data types: hl7apy's parser and ``Validator`` at STRICT level,
  its exceptions and report lines turned into findings.

Messages without MSH-9.3 (before v2.3.1) are resolved to a structure through
``EVENT_STRUCTURES``, an excerpt of HL7 table 0354.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.hl7v2 import Message, parse
from hub.errors import ParseError
from hub.findings import Report, Severity

from .ack import report_for_error
from .codes import ErrorCode

__all__ = ["EVENT_STRUCTURES", "check_segment_order", "validate_strict"]

#: (MSH-9.1, MSH-9.2) → message structure, for messages that do not say (HL7 table 0354)
EVENT_STRUCTURES: dict[tuple[str, str], str] = {
    **{("ADT", t): "ADT_A01" for t in ("A01", "A04", "A08", "A13")},
    **{("ADT", t): "ADT_A05" for t in ("A05", "A14", "A28", "A31")},
    **{("ADT", t): "ADT_A06" for t in ("A06", "A07")},
    **{("ADT", t): "ADT_A09" for t in ("A09", "A10", "A11")},
    **{
        ("ADT", t): "ADT_A21"
        for t in ("A21", "A22", "A23", "A25", "A26", "A27", "A29", "A32", "A33")
    },
    **{("ADT", t): "ADT_A39" for t in ("A39", "A40", "A41", "A42")},
    **{("ADT", t): "ADT_A43" for t in ("A43", "A44")},
    **{("ADT", t): "ADT_A50" for t in ("A50", "A51")},
    **{("ADT", t): "ADT_A61" for t in ("A61", "A62")},
    **{("SIU", f"S{n}"): "SIU_S12" for n in range(12, 27)},
    **{("SRM", f"S{n:02d}"): "SRM_S01" for n in range(1, 12)},
    **{("MDM", t): "MDM_T01" for t in ("T01", "T03", "T05", "T07", "T09", "T11")},
    **{("MDM", t): "MDM_T02" for t in ("T02", "T04", "T06", "T08", "T10")},
    **{("BAR", t): "BAR_P01" for t in ("P01", "P05")},
    **{("REF", t): "REF_I12" for t in ("I12", "I13", "I14", "I15")},
    ("RDE", "O25"): "RDE_O11",
}
_STRUCTURE_ERRORS = ("Missing required child", "Child limit exceeded", "Invalid children")
_HL7APY_NAME = re.compile(r"\b([A-Z][A-Z0-9]{2})_(\d+)\b")


def validate_strict(raw: bytes) -> Report:
    """Validate ``raw`` (one message) against hl7apy's definitions for its MSH-12 version:
    segment order and cardinality, then fields and data types at STRICT level."""
    try:
        message = parse(raw)
    except ParseError as exc:
        return report_for_error(exc)
    report = Report()
    version = message.version or ""
    if not _hl7apy_knows(version):
        report.error(
            "not-supported",
            f"no definitions for version {version!r}",
            "MSH-12",
            ErrorCode.UNSUPPORTED_VERSION_ID,
        )
        return report
    structure = _resolve_structure(message, version)
    if structure is None:
        report.error(
            "not-supported",
            f"no structure known for {message.message_type}",
            "MSH-9",
            ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
        )
        return report
    report.extend(check_segment_order(message, structure, version))
    report.extend(_hl7apy_validate(_without_nulls(message), structure, version))
    return report


def _without_nulls(message: Message) -> str:
    """The message's text with each explicit null ``""`` (a field, repetition, component
    or subcomponent that is exactly ``""``) left empty for hl7apy: ``""`` is valid in
    every field of every data type (v2.5.1 chapter 2.5.3, "delete the value"), and hl7apy
    reads it as a malformed date, number or code."""
    text = message.to_text()
    if '""' not in text:
        return text
    enc = message.encoding
    fs = enc.field
    delimiters = (enc.repetition, enc.component, enc.subcomponent)
    inner = re.compile(
        "(" + "|".join(re.escape(c) for c in delimiters if c) + ")" if any(delimiters) else "$^"
    )
    lines = []
    for line in text.split("\r"):
        fields = line.split(fs)
        first = 2 if line.startswith(("MSH", "FHS", "BHS")) else 1  # after MSH-2
        for n in range(first, len(fields)):
            if '""' in fields[n]:
                pieces = inner.split(fields[n])
                fields[n] = "".join("" if p.strip() == '""' else p for p in pieces)
        lines.append(fs.join(fields))
    return "\r".join(lines)


def _hl7apy_knows(version: str) -> bool:
    from hl7apy import SUPPORTED_LIBRARIES

    return version in SUPPORTED_LIBRARIES


def _structure_exists(name: str, version: str) -> bool:
    from hl7apy import load_reference
    from hl7apy.exceptions import ChildNotFound

    try:
        load_reference(name, "Message", version)
    except ChildNotFound:
        return False
    return True


def _resolve_structure(message: Message, version: str) -> str | None:
    code, trigger = message.message_code or "", message.trigger_event or ""
    candidates = [
        message.message_structure,
        EVENT_STRUCTURES.get((code, trigger)),
        f"{code}_{trigger}" if trigger else None,
        code,
    ]
    return next((c for c in candidates if c and _structure_exists(c, version)), None)


# ------------------------------------------------------------------ segment order


@dataclass(slots=True)
class _State:
    eps: list[int] = field(default_factory=list)
    on: tuple[str, int] | None = None


class _Automaton:
    """A Thompson automaton over segment ids built from an hl7apy structure reference."""

    #: a finite maximum above this is treated as unbounded (keeps the automaton small)
    MAX_COPIES = 20

    def __init__(self, reference: tuple[Any, ...]):
        self.states: list[_State] = []
        self.segments: set[str] = set()
        self.start, self.accept = self._sequence(reference[1])

    def _new(self) -> int:
        self.states.append(_State())
        return len(self.states) - 1

    def _link(self, a: int, b: int) -> None:
        self.states[a].eps.append(b)

    def _sequence(self, children: Iterable[Any]) -> tuple[int, int]:
        start = end = self._new()
        for child in children:
            first, last = self._repeat(child)
            self._link(end, first)
            end = last
        return start, end

    def _choice(self, children: Iterable[Any]) -> tuple[int, int]:
        start, end = self._new(), self._new()
        for child in children:
            first, last = self._repeat(child)
            self._link(start, first)
            self._link(last, end)
        return start, end

    def _one(self, child: Any) -> tuple[int, int]:
        name, ref, _, kind = child[0], child[1], child[2], child[3]
        if kind == "SEG":
            start, end = self._new(), self._new()
            self.states[start].on = (name, end)
            self.segments.add(name)
            return start, end
        if ref[0] == "choice":
            return self._choice(ref[1])
        return self._sequence(ref[1])

    def _repeat(self, child: Any) -> tuple[int, int]:
        low, high = child[2]
        start = end = self._new()
        for _ in range(low):
            first, last = self._one(child)
            self._link(end, first)
            end = last
        if high == -1 or high > self.MAX_COPIES:
            loop = self._new()
            first, last = self._one(child)
            self._link(end, loop)
            self._link(loop, first)
            self._link(last, loop)
            return start, loop
        tail = self._new()
        for _ in range(high - low):
            first, last = self._one(child)
            self._link(end, first)
            self._link(end, tail)
            end = last
        self._link(end, tail)
        return start, tail

    def closure(self, states: Iterable[int]) -> set[int]:
        seen = set(states)
        stack = list(seen)
        while stack:
            for nxt in self.states[stack.pop()].eps:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def step(self, states: set[int], segment: str) -> set[int]:
        moved = [
            on[1] for s in states if (on := self.states[s].on) is not None and on[0] == segment
        ]
        return self.closure(moved)

    def expected(self, states: set[int]) -> list[str]:
        return sorted({on[0] for s in states if (on := self.states[s].on) is not None})


def check_segment_order(message: Message, structure: str, version: str) -> Report:
    """Segment order and cardinality of ``message`` against ``structure`` (HL7 message
    structure, e.g. ``ADT_A01``) in ``version``. Z-segments may stand anywhere."""
    from hl7apy import load_reference

    automaton = _Automaton(load_reference(structure, "Message", version))
    report = Report()
    states = automaton.closure([automaton.start])
    counts: dict[str, int] = {}
    for seg in message.segments:
        counts[seg.id] = counts.get(seg.id, 0) + 1
        if seg.id.startswith("Z"):
            continue
        where = seg.id if counts[seg.id] == 1 else f"{seg.id}[{counts[seg.id]}]"
        following = automaton.step(states, seg.id)
        if not following:
            what = "out of order or repeated" if seg.id in automaton.segments else "not allowed"
            report.error(
                "structure",
                f"{seg.id} is {what} in {structure} {version} (expected "
                f"{', '.join(automaton.expected(states)) or 'the end'})",
                where,
                ErrorCode.SEGMENT_SEQUENCE_ERROR,
            )
            return report
        states = following
    if automaton.accept not in states:
        report.error(
            "structure",
            f"{structure} {version} is incomplete (expected "
            f"{', '.join(automaton.expected(states))})",
            "message",
            ErrorCode.SEGMENT_SEQUENCE_ERROR,
        )
    return report


# ------------------------------------------------------------------ hl7apy, fields and types


def _hl7apy_validate(text: str, structure: str, version: str) -> Report:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Message as ApyMessage
    from hl7apy.parser import get_message_info, parse_segments

    report = Report()
    try:
        encoding_chars, _, _ = get_message_info(text)
        text = _long_text(text, encoding_chars, report)
        apy = ApyMessage(
            structure,
            version=version,
            validation_level=VALIDATION_LEVEL.STRICT,
            encoding_chars=encoding_chars,
        )
        apy.children = parse_segments(
            text, version, encoding_chars, VALIDATION_LEVEL.STRICT, apy.reference, find_groups=True
        )
    except Exception as exc:  # hl7apy raises many unrelated types for one meaning: invalid
        report.error(
            "invalid", _clean(f"{type(exc).__name__}: {exc}"), None, ErrorCode.DATA_TYPE_ERROR
        )
        return report
    report.extend(_validator_report(apy))
    return report


#: OBX-2 types whose OBX-5 is text of up to 65536 characters: TX and FT (each repetition
#: a line), ED (.5 the data, TX). hl7apy reads OBX-5 (varies) as ST of 199 characters and
#: would refuse every longer line and every real attachment: the length is checked here,
#: and hl7apy gets a short stand-in for that value (it still checks everything else).
_LONG_TEXT = {"TX": 0, "FT": 0, "ED": 5}
_TEXT_LENGTH = 65536
_ST_LENGTH = 199
_STAND_IN = "TEXT"


def _long_text(text: str, enc: dict[str, str], report: Report) -> str:
    """``text`` with each OBX-5 text value longer than ST allows replaced by a stand-in;
    one longer than TX allows is an error finding at OBX-5 (no value in its text)."""
    out = []
    for segment in text.split("\r"):
        fields = segment.split(enc["FIELD"])
        if fields[0] == "OBX" and len(fields) > 5 and fields[2] in _LONG_TEXT:
            number = _LONG_TEXT[fields[2]]
            reps = fields[5].split(enc["REPETITION"])
            for i, rep in enumerate(reps):
                parts = rep.split(enc["COMPONENT"]) if number else [rep]
                at = max(number - 1, 0)
                if at >= len(parts) or len(parts[at]) <= _ST_LENGTH:
                    continue
                if len(parts[at]) > _TEXT_LENGTH:
                    report.error(
                        "structure",
                        f"a {fields[2]} value is longer than {_TEXT_LENGTH} characters",
                        "OBX-5",
                        ErrorCode.DATA_TYPE_ERROR,
                    )
                parts[at] = _STAND_IN
                reps[i] = enc["COMPONENT"].join(parts)
            fields[5] = enc["REPETITION"].join(reps)
        out.append(enc["FIELD"].join(fields))
    return "\r".join(out)


def _validator_report(apy: Any) -> Report:
    from hl7apy.validation import Validator

    report = Report()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.txt"
        # it raises its first error; every error and warning is also a line of the file
        with contextlib.suppress(Exception):
            Validator.validate(apy, report_file=str(path))
        lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        kind, _, text = line.partition(": ")
        if kind == "Error":
            code = (
                ErrorCode.REQUIRED_FIELD_MISSING
                if text.startswith("Missing required child")
                else ErrorCode.SEGMENT_SEQUENCE_ERROR
                if text.startswith(_STRUCTURE_ERRORS)
                else ErrorCode.DATA_TYPE_ERROR
            )
            report.error("structure", _clean(text), _location(text), code)
        elif kind == "Warning":
            code = (
                ErrorCode.TABLE_VALUE_NOT_FOUND
                if "not in table" in text
                else ErrorCode.DATA_TYPE_ERROR
            )
            report.add(Severity.WARNING, "value", _clean(text), _location(text), code)
    return report


def _location(text: str) -> str | None:
    """``MSH_9`` in an hl7apy message → ``MSH-9``."""
    match = _HL7APY_NAME.search(text)
    return f"{match[1]}-{int(match[2])}" if match else None


def _clean(text: str) -> str:
    return " ".join(text.split())[:200]
