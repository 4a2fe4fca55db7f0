"""Element checks of one segment against its guide table entry (999 IK4 material).

What is checked, with the IK403 code each failure gets: required element missing (1),
X12 syntax notes P/R/C/L (2) and E (10), too many elements (3), length against the data
element dictionary (4/5), control characters and non-numeric numbers (6), codes from the
guide or an external code list (7), dates (8) and times (9) — including a date element
1251 read in the format its 1250 qualifier names (D8, RD8, DT, TM) —, too many
repetitions (12) or components (13), "not used" elements present (I10), guide regular
expressions (I12).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from adapters.x12.guides import ElementSpec, SegmentSpec, code_sets
from adapters.x12.segment import Segment

__all__ = ["ElementIssue", "check_segment", "valid_date", "valid_time"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUMERIC = re.compile(r"-?\d+\Z")
_DECIMAL = re.compile(r"-?(\d+\.?\d*|\.\d+)([Ee]-?\d+)?\Z")
_BAD_COPY_MAX = 99  # data element 724 (IK404) is AN 1/99


@dataclass(frozen=True, slots=True)
class ElementIssue:
    """One element problem: IK403 code, position (element, component, repeat), text."""

    code: str
    element: int
    component: int | None
    repetition: int | None
    data_element: str | None
    text: str
    value: str | None = None


def check_segment(seg: Segment, spec: SegmentSpec) -> list[ElementIssue]:
    """Every element problem of ``seg`` read as ``spec`` (empty list: the segment is fine)."""
    issues: list[ElementIssue] = []
    present = len(seg)
    if not spec.open and present > len(spec.elements):
        issues.append(
            ElementIssue(
                "3",
                present,
                None,
                None,
                None,
                f"{seg.id} has {present} elements, the guide defines {len(spec.elements)}",
            )
        )
    values = seg.elements
    specs = spec.elements
    for pos in range(1, len(specs) + 1):
        es = specs[pos - 1]
        value = values[pos] if pos <= present else ""
        if value:
            issues.extend(_element(seg, pos, es, value))
        elif es.usage == "R":
            issues.append(_issue("1", es, f"{es.ref} is required", pos=pos))
    if spec.syntax:
        issues.extend(_syntax(spec.syntax, lambda n: bool(seg.element(n)), seg.id, None))
    return issues


# --------------------------------------------------------------------------- one element


def _element(seg: Segment, pos: int, es: ElementSpec, value: str) -> Iterator[ElementIssue]:
    """Problems of element ``pos``, which has data."""
    if es.usage == "N":
        yield _issue("I10", es, f"{es.ref} is not used in this guide", pos=pos, value=value)
        return
    rep_sep = seg.delimiters.repetition
    repeats = value.split(rep_sep) if rep_sep and rep_sep in value else [value]
    if es.repeat is not None and len(repeats) > es.repeat:
        yield _issue("12", es, f"{es.ref} repeats more than {es.repeat} times", pos=pos)
        repeats = repeats[: es.repeat]
    for rep_no, rep in enumerate(repeats, 1):
        rep_pos = rep_no if len(repeats) > 1 else None
        if es.is_composite:
            yield from _composite(seg, pos, rep, rep_pos, es)
        else:
            yield from _simple(seg, es, rep, pos=pos, sub=None, rep=rep_pos)


def _composite(
    seg: Segment, pos: int, value: str, rep: int | None, es: ElementSpec
) -> Iterator[ElementIssue]:
    parts = value.split(seg.delimiters.component)
    if len(parts) > len(es.components):
        yield _issue(
            "13", es, f"{es.ref} has too many components", pos=pos, sub=len(parts), rep=rep
        )
    for sub, cs in enumerate(es.components, 1):
        part = parts[sub - 1] if sub <= len(parts) else ""
        if not part:
            if cs.usage == "R":
                yield _issue("1", cs, f"{cs.ref} is required", pos=pos, sub=sub, rep=rep)
            continue
        if cs.usage == "N":
            yield _issue(
                "I10",
                cs,
                f"{cs.ref} is not used in this guide",
                pos=pos,
                sub=sub,
                value=part,
                rep=rep,
            )
            continue
        yield from _simple(seg, cs, part, pos=pos, sub=sub, rep=rep)
    yield from _syntax(es.syntax, lambda n: n <= len(parts) and bool(parts[n - 1]), es.ref, pos)


def _simple(
    seg: Segment, es: ElementSpec, value: str, *, pos: int, sub: int | None, rep: int | None
) -> Iterator[ElementIssue]:
    d = seg.delimiters
    if sub is None and d.component in value and not es.is_composite:
        yield _issue("13", es, f"{es.ref} is a simple element with components", pos=pos, rep=rep)
        return
    if _CONTROL.search(value):
        yield _issue("6", es, f"{es.ref} contains a control character", pos=pos, sub=sub, rep=rep)
        return
    yield from _length(es, value, pos=pos, sub=sub, rep=rep)
    problem = _type_problem(value, es, seg, pos, sub)
    if problem is not None:
        yield _issue(problem[0], es, problem[1], pos=pos, sub=sub, value=value, rep=rep)
        return
    if not _code_ok(value, es):
        yield _issue(
            "7", es, f"{es.ref} is not a valid code here", pos=pos, sub=sub, value=value, rep=rep
        )
    elif es.regex is not None and not es.regex.fullmatch(value):
        yield _issue(
            "I12",
            es,
            f"{es.ref} does not match the pattern",
            pos=pos,
            sub=sub,
            value=value,
            rep=rep,
        )


def _length(
    es: ElementSpec, value: str, *, pos: int, sub: int | None, rep: int | None
) -> Iterator[ElementIssue]:
    if not es.max_len:
        return
    numeric = es.data_type is not None and (es.data_type == "R" or es.data_type[0] == "N")
    # X12.6: sign and decimal point do not count toward a numeric element's length
    size = len(value.replace("-", "").replace(".", "")) if numeric else len(value)
    if size < es.min_len:
        yield _issue(
            "4",
            es,
            f"{es.ref} is shorter than {es.min_len}",
            pos=pos,
            sub=sub,
            value=value,
            rep=rep,
        )
    elif size > es.max_len:
        yield _issue(
            "5", es, f"{es.ref} is longer than {es.max_len}", pos=pos, sub=sub, value=value, rep=rep
        )


def _code_ok(value: str, es: ElementSpec) -> bool:
    if es.codes is None and es.codes_external is None:
        return True
    if es.codes is not None and value in es.codes:
        return True
    if es.codes_external is not None:
        external = code_sets().get(es.codes_external)
        # an external list we do not hold cannot be checked: do not reject on it
        return external is None or value in external
    return False


# --------------------------------------------------------------------------- types


def _type_problem(
    value: str, es: ElementSpec, seg: Segment, pos: int, sub: int | None
) -> tuple[str, str] | None:
    dtype = es.data_type
    if es.data_ele == "1251" and sub is None and pos > 1:
        qualifier = seg.element(pos - 1)
        checker = _PERIOD_FORMATS.get(qualifier)
        if checker is not None and not checker(value):
            return ("8", f"{es.ref} is not a valid {qualifier} date/time period")
        return None
    if dtype is None or dtype in ("AN", "ID", "B"):
        return None
    if dtype[0] == "N" and not _NUMERIC.match(value):
        return ("6", f"{es.ref} is not an integer")
    if dtype == "R" and not _DECIMAL.match(value):
        return ("6", f"{es.ref} is not a decimal number")
    if dtype == "DT" and not valid_date(value):
        return ("8", f"{es.ref} is not a valid date")
    if dtype == "TM" and not valid_time(value):
        return ("9", f"{es.ref} is not a valid time")
    return None


def valid_date(value: str) -> bool:
    """CCYYMMDD, or YYMMDD (ISA09-style, century inferred)."""
    if not value.isdigit() or len(value) not in (6, 8):
        return False
    if len(value) == 6:
        value = ("20" if int(value[:2]) < 50 else "19") + value
    try:
        date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return False
    return True


def valid_time(value: str) -> bool:
    """HHMM, HHMMSS, HHMMSSD or HHMMSSDD (X12 data type TM)."""
    if not value.isdigit() or len(value) not in (4, 6, 7, 8):
        return False
    hh, mm = int(value[:2]), int(value[2:4])
    ss = int(value[4:6]) if len(value) >= 6 else 0
    return hh < 24 and mm < 60 and ss < 60


def _range(check: Callable[[str], bool]) -> Callable[[str], bool]:
    def ok(value: str) -> bool:
        start, dash, end = value.partition("-")
        return bool(dash) and check(start) and check(end)

    return ok


def _date_time(value: str) -> bool:
    return len(value) == 12 and valid_date(value[:8]) and valid_time(value[8:])


def _ccyymmdd(value: str) -> bool:
    return len(value) == 8 and valid_date(value)


#: 1250 Date Time Period Format Qualifier → check for the 1251 value that follows
_PERIOD_FORMATS: dict[str, Callable[[str], bool]] = {
    "D8": _ccyymmdd,
    "RD8": _range(_ccyymmdd),
    "D6": lambda v: len(v) == 6 and valid_date(v),
    "DT": _date_time,
    "RDT": _range(_date_time),
    "TM": lambda v: len(v) == 4 and valid_time(v),
}


# --------------------------------------------------------------------------- syntax notes


def _syntax(
    notes: tuple[str, ...], present: Callable[[int], bool], ref: str, parent: int | None
) -> Iterator[ElementIssue]:
    """X12.6 syntax notes: P paired, R required (one of), E exclusion, C conditional,
    L list conditional; ``present(n)`` says whether element (or component) n has data."""
    for note in notes:
        kind, positions = note[0], [int(note[i : i + 2]) for i in range(1, len(note), 2)]
        if not positions:
            continue
        have = [p for p in positions if present(p)]
        missing = [p for p in positions if p not in have]
        bad: list[tuple[str, int]] = []
        if kind == "P" and have and missing:
            bad = [("2", p) for p in missing]
        elif kind == "R" and not have:
            bad = [("2", positions[0])]
        elif kind == "E" and len(have) > 1:
            bad = [("10", p) for p in have[1:]]
        elif kind == "C" and present(positions[0]) and missing:
            bad = [("2", p) for p in missing]
        elif kind == "L" and present(positions[0]) and len(have) == 1 and len(positions) > 1:
            bad = [("2", positions[1])]
        for code, p in bad:
            where = (parent, p) if parent is not None else (p, None)
            yield ElementIssue(
                code, where[0], where[1], None, None, f"{ref}: syntax note {note} not met"
            )


def _issue(
    code: str,
    es: ElementSpec,
    text: str,
    *,
    pos: int,
    sub: int | None = None,
    value: str | None = None,
    rep: int | None = None,
) -> ElementIssue:
    data_ele = es.data_ele if es.data_ele and es.data_ele.isdigit() else None
    copy = value[:_BAD_COPY_MAX] if value else None
    return ElementIssue(code, pos, sub, rep, data_ele, text, copy)
