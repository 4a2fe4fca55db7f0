"""Envelope checks: ISA/IEA (TA1), GS/GE (AK9), ST/SE (IK5).

Each check returns ``X12Finding``s at its level with the code of its acknowledgment:

* interchange → TA105: field widths and values of ISA01–ISA16 (005–020, 027, 003 for an
  unsupported version), separators (004, 026, 027), IEA missing (023), IEA01 (021),
  IEA02 (001), duplicate control number (025, via the injected ``seen``), content
  outside groups (024).
* group → AK905: trailer missing (3), GS06/GE02 (4), GE01 count (5), GS06 syntax (6),
  GS06 not unique in the interchange (18); a bad GS date/time/id rejects the group
  without a code.
* transaction → IK502: ST01 (6), ST02 (7), trailer missing (2), ST02/SE02 (3), SE01
  count (4), ST02 not unique in the group (23), ST03 ≠ GS08 (19), set outside a group (18).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from adapters.x12.delimiters import ISA_ELEMENT_WIDTHS
from adapters.x12.guides import control_segments
from adapters.x12.model import FunctionalGroup, Interchange, TransactionSet
from adapters.x12.segment import Segment
from conformance.x12.codes import HEALTH_CARE_GROUPS, ISA_ELEMENT_NOTE
from conformance.x12.elements import check_segment, valid_date, valid_time
from conformance.x12.findings import Level, X12Finding, error, info, warning

__all__ = [
    "EXPECTED_GROUP",
    "SeenControl",
    "check_group",
    "check_interchange_envelope",
    "check_transaction_envelope",
]

#: ``seen(sender_qualifier, sender_id, control_number) -> bool`` — was this ISA13 already
#: received from this sender? Injected by the caller (the store backs it).
SeenControl = Callable[[str, str, str], bool]

#: ST01 → the GS01 functional identifier X12 assigns it (479)
EXPECTED_GROUP = {
    "270": "HS",
    "271": "HB",
    "276": "HR",
    "277": "HN",
    "278": "HI",
    "820": "RA",
    "834": "BE",
    "835": "HP",
    "837": "HC",
    "997": "FA",
    "999": "FA",
    "824": "AG",
    "850": "PO",
    "855": "PR",
    "856": "SH",
    "810": "IN",
}

_ISA_CODES: dict[int, frozenset[str]] = {
    1: frozenset({"00", "01", "02", "03", "04", "05", "06"}),
    3: frozenset({"00", "01"}),
    14: frozenset({"0", "1"}),
    15: frozenset({"P", "T", "I"}),
}
_DIGITS = re.compile(r"\d+\Z")
_ALNUM_SPACE = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ")


# --------------------------------------------------------------------------- interchange


def check_interchange_envelope(
    ic: Interchange, seen: SeenControl | None = None
) -> list[X12Finding]:
    """ISA/IEA and what lies between groups; TA105 codes."""
    out = list(_outside_text(ic))
    out.extend(_isa_fields(ic))
    out.extend(_separators(ic))
    out.extend(_trailer(ic))
    out.extend(_strays(ic))
    if seen is not None and _DIGITS.match(ic.control_number):
        qual, sender = ic.sender
        if seen(qual, sender, ic.control_number):
            out.append(
                _ic_error(
                    ic,
                    "duplicate",
                    "interchange control number already received from this sender",
                    "025",
                    "ISA13",
                )
            )
    return out


def _ic_error(ic: Interchange, code: str, text: str, note: str, location: str) -> X12Finding:
    return error(
        Level.INTERCHANGE,
        code,
        text,
        note,
        location=location,
        interchange=ic.index,
        segment_id=location[:3],
    )


def _outside_text(ic: Interchange) -> Iterator[X12Finding]:
    if ic.leading:
        what = "a byte-order mark" if ic.leading.startswith("\xef\xbb\xbf") else "text"
        yield warning(
            Level.INTERCHANGE,
            "informational",
            f"{what} before the ISA ({len(ic.leading)} characters) is not part of the interchange",
            location="ISA",
            interchange=ic.index,
        )
    if ic.trailing.strip("\r\n\x00 \x1a"):
        yield warning(
            Level.INTERCHANGE,
            "informational",
            f"text after the IEA ({len(ic.trailing)} characters) is not part of the interchange",
            location="IEA",
            interchange=ic.index,
        )


def _isa_fields(ic: Interchange) -> Iterator[X12Finding]:
    fields = ic.isa.elements
    for i, width in enumerate(ISA_ELEMENT_WIDTHS, 1):
        value = fields[i] if i < len(fields) else ""
        ref = f"ISA{i:02d}"
        if len(value) != width:
            yield _ic_error(
                ic,
                "structure",
                f"{ref} is {len(value)} characters, X12.5 fixes it at {width}",
                ISA_ELEMENT_NOTE[i],
                ref,
            )
            continue
        problem = _isa_value(i, value, fields)
        if problem is not None:
            note = "003" if problem == "unsupported" else ISA_ELEMENT_NOTE[i]
            yield _ic_error(ic, "value", f"{ref} has an invalid value ({problem})", note, ref)


def _isa_value(i: int, value: str, fields: list[str]) -> str | None:
    """Why ISA element ``i`` is invalid, or None."""
    if i in _ISA_CODES and value not in _ISA_CODES[i]:
        return "not a valid code"
    if i in (5, 7) and not value.isalnum():
        return "qualifier must be two letters or digits"
    if i in (6, 8) and not value.strip():
        return "identifier is blank"
    if i == 9 and not valid_date(value):
        return "not a YYMMDD date"
    if i == 10 and not valid_time(value):
        return "not an HHMM time"
    if i == 11:
        return _isa11(value, fields[12] if len(fields) > 12 else "")
    if i == 12:
        if not value.isdigit():
            return "not a version number"
        if not "00200" <= value <= "00501":
            return "unsupported"
    if i == 13 and not value.isdigit():
        return "not a nine-digit number"
    return None


def _isa11(value: str, version: str) -> str | None:
    if version >= "00402":
        return (
            "repetition separator must not be a letter or digit"
            if (value in _ALNUM_SPACE)
            else None
        )
    return None if value == "U" else "standards identifier must be U"


def _separators(ic: Interchange) -> Iterator[X12Finding]:
    d = ic.delimiters
    if d.segment in _ALNUM_SPACE or d.segment in (d.element, d.component):
        yield _ic_error(
            ic,
            "structure",
            "segment terminator is a letter, digit or another separator",
            "004",
            "ISA16",
        )
    if d.element in (d.component, d.segment):
        yield _ic_error(
            ic, "structure", "data element separator equals another separator", "026", "ISA"
        )
    if d.component in _ALNUM_SPACE or d.component in (d.element, d.segment):
        yield _ic_error(
            ic,
            "structure",
            "component element separator is a letter, digit or another separator",
            "027",
            "ISA16",
        )


def _trailer(ic: Interchange) -> Iterator[X12Finding]:
    if ic.iea is None:
        yield _ic_error(ic, "incomplete", "interchange ends without IEA", "023", "IEA")
        return
    if not ic.iea.terminated:
        yield warning(
            Level.INTERCHANGE,
            "informational",
            "IEA has no segment terminator",
            location="IEA",
            interchange=ic.index,
        )
    groups = len(ic.groups)
    if ic.iea.element(1) != str(groups):
        yield _ic_error(ic, "value", f"IEA01 does not count the {groups} groups", "021", "IEA01")
    if ic.iea.element(2) != ic.control_number:
        yield _ic_error(ic, "value", "IEA02 differs from ISA13", "001", "IEA02")


def _strays(ic: Interchange) -> Iterator[X12Finding]:
    for part in ic.strays:
        if isinstance(part, Segment) and part.id == "TA1":
            yield from _ta1(ic, part)
        elif isinstance(part, Segment):
            yield _ic_error(
                ic, "structure", "segment outside any functional group", "024", part.id[:3] or "ISA"
            )
        else:
            yield _ic_error(
                ic, "structure", "transaction set outside any functional group", "024", "ST"
            )


def _ta1(ic: Interchange, ta1: Segment) -> Iterator[X12Finding]:
    """A TA1 may travel in an interchange (answering one of ours): read it as X12.5 says."""
    issues = check_segment(ta1, control_segments()["TA1"])
    if issues:
        yield _ic_error(
            ic, "invalid", f"TA1 is malformed ({len(issues)} element errors)", "024", "TA1"
        )
    else:
        yield info(
            Level.INTERCHANGE,
            "informational",
            "TA1 acknowledgment inside the interchange",
            location="TA1",
            interchange=ic.index,
        )


# --------------------------------------------------------------------------- group


@dataclass(slots=True)
class _Findings:
    """Findings of one level and place, each with its acknowledgment code."""

    level: str
    where: dict[str, int]
    items: list[X12Finding] = field(default_factory=list)

    def error(self, code: str, text: str, ack_code: str | None, location: str) -> None:
        self.items.append(
            error(
                self.level,
                code,
                text,
                ack_code,
                location=location,
                segment_id=location[:2],
                **self.where,
            )
        )

    def warning(self, code: str, text: str, location: str) -> None:
        self.items.append(warning(self.level, code, text, location=location, **self.where))


def check_group(ic: Interchange, group: FunctionalGroup, earlier: set[str]) -> list[X12Finding]:
    """GS/GE of one group; ``earlier`` holds the GS06 values seen before it."""
    out = _Findings(Level.GROUP, {"interchange": ic.index, "group": group.index})
    _group_header(group, earlier, out)
    _group_trailer(group, out)
    for stray in group.strays:
        out.error("structure", "segment between transaction sets", None, stray.id[:3] or "GS")
    return out.items


def _group_header(group: FunctionalGroup, earlier: set[str], out: _Findings) -> None:
    gs06 = group.control_number
    if not (_DIGITS.match(gs06) and len(gs06) <= 9):
        out.error("value", "GS06 must be 1 to 9 digits", "6", "GS06")
    elif gs06 in earlier:
        out.error("duplicate", "GS06 is not unique in the interchange", "18", "GS06")
    earlier.add(gs06)
    if len(group.functional_id) != 2 or not group.functional_id.isalnum():
        out.error("value", "GS01 is not a functional identifier code", "1", "GS01")
    if not group.version:
        out.error("required", "GS08 version is missing", "2", "GS08")
    if not (len(group.gs.element(4)) == 8 and valid_date(group.gs.element(4))):
        out.error("value", "GS04 is not a CCYYMMDD date", None, "GS04")
    if not valid_time(group.gs.element(5)):
        out.error("value", "GS05 is not a valid time", None, "GS05")


def _group_trailer(group: FunctionalGroup, out: _Findings) -> None:
    if group.ge is None:
        out.error("incomplete", "functional group ends without GE", "3", "GE")
        return
    count = len(group.transaction_sets)
    if group.ge.element(1) != str(count):
        out.error("value", f"GE01 does not count the {count} transaction sets", "5", "GE01")
    if group.ge.element(2) != group.control_number:
        out.error("value", "GE02 differs from GS06", "4", "GE02")


# --------------------------------------------------------------------------- transaction set


def check_transaction_envelope(
    ts: TransactionSet, functional_id: str, earlier: set[str]
) -> list[X12Finding]:
    """ST/SE of one set; ``earlier`` holds the ST02 values seen before it in the group."""
    out = _Findings(
        Level.TRANSACTION,
        {"interchange": ts.interchange_index, "group": ts.group_index, "transaction": ts.index},
    )
    # HIPAA groups are held to their guide; other partners' habits only get warnings
    strict = functional_id in HEALTH_CARE_GROUPS
    _set_header(ts, functional_id, strict, earlier, out)
    _convention(ts, strict, out)
    _set_trailer(ts, out)
    return out.items


def _set_header(
    ts: TransactionSet, functional_id: str, strict: bool, earlier: set[str], out: _Findings
) -> None:
    if ts.gs is None:
        out.error("structure", "transaction set outside any functional group", "18", "ST")
    if not (len(ts.id) == 3 and ts.id.isdigit()):
        out.error("value", "ST01 is not a transaction set identifier", "6", "ST01")
    elif functional_id and EXPECTED_GROUP.get(ts.id, functional_id) != functional_id:
        text = f"transaction set {ts.id} does not belong in a {functional_id} group"
        if strict:
            out.error("value", text, "6", "ST01")
        else:
            out.warning("business-rule", text, "ST01")
    st02 = ts.control_number
    if not 4 <= len(st02) <= 9:
        out.error("value", "ST02 must be 4 to 9 characters", "7", "ST02")
    elif st02 in earlier:
        out.error("duplicate", "ST02 is not unique in the functional group", "23", "ST02")
    earlier.add(st02)


def _convention(ts: TransactionSet, strict: bool, out: _Findings) -> None:
    st03 = ts.st.element(3)
    gs08 = ts.gs.element(8) if ts.gs is not None else ""
    if not st03 or not gs08 or st03 == gs08:
        return
    if strict:
        out.error("value", "ST03 differs from GS08", "19", "ST03")
    else:
        out.warning("business-rule", "ST03 differs from GS08", "ST03")


def _set_trailer(ts: TransactionSet, out: _Findings) -> None:
    if ts.se is None:
        out.error("incomplete", "transaction set ends without SE", "2", "SE")
        return
    if ts.se.element(2) != ts.control_number:
        out.error("value", "SE02 differs from ST02", "3", "SE02")
    if ts.se.element(1) != str(len(ts.segments)):
        out.error("value", f"SE01 does not count the {len(ts.segments)} segments", "4", "SE01")
