"""Renderers over the same verdict: TA1, 999 (005010X231A1) and 997.

Each renders a whole answering interchange with ``adapters.x12.builder`` — sender and
receiver swapped from the inbound ISA (or the site's own id), the inbound separators when
they are sound, control numbers from the injected ``next_control``. Values echoed from the
inbound file (control numbers, ids; never a data value — no IK404 copy) are fitted to the
acknowledgment's element formats so that the acknowledgment itself is always valid X12;
where a value cannot be echoed faithfully the rule is written at the helper that fits it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from adapters.x12.builder import ControlAllocator, InterchangeBuilder, TransactionBuilder
from adapters.x12.delimiters import Delimiters
from adapters.x12.model import FunctionalGroup, Interchange
from conformance.x12.codes import TO_997_AK304, TO_997_AK403, TO_997_AK502
from conformance.x12.elements import valid_date, valid_time
from conformance.x12.findings import Level, X12Finding
from conformance.x12.verdict import GroupVerdict, InterchangeVerdict, TransactionVerdict

__all__ = ["ACK_999_VERSION", "render_997", "render_999", "render_ta1"]

ACK_999_VERSION = "005010X231A1"
_AK201_999 = frozenset({"270", "271", "276", "277", "278", "820", "834", "835", "837"})
_SEGMENT_ID = re.compile(r"[A-Z0-9]{2,3}\Z")
#: a separator we are willing to write: printable ASCII, not a letter, digit or space
_SEPARATOR = re.compile(r"[!-/:-@\[-`{-~]\Z")


# --------------------------------------------------------------------------- envelope


def _party(qualifier: str, identifier: str) -> tuple[str, str]:
    """An ISA party fitted to ISA05/06: a bad qualifier becomes ZZ (mutually defined), an
    identifier loses characters that cannot be written (controls, separators, non-ASCII)."""
    qual = qualifier if len(qualifier) == 2 and _alnum(qualifier) == qualifier else "ZZ"
    ident = "".join(ch for ch in identifier if ch.isascii() and (ch.isalnum() or ch in " -."))
    ident = ident.strip()[:15] or "UNKNOWN"
    return qual, ident


def _delimiters(ic: Interchange, need_repetition: bool) -> Delimiters:
    """The inbound separators when they are sound (so echoed data cannot clash), else ours."""
    d = ic.delimiters
    seps = [d.element, d.component, d.segment]
    if len(set(seps)) != 3 or not all(_SEPARATOR.match(c) for c in seps):
        return Delimiters("*", ":", "^" if need_repetition else None, "~")
    rep = d.repetition if d.repetition and _SEPARATOR.match(d.repetition) else None
    if need_repetition and rep is None:
        rep = next(c for c in "^{|!`\\" if c not in seps)
    return Delimiters(d.element, d.component, rep if need_repetition else None, d.segment)


def _builder(
    ic: Interchange,
    next_control: ControlAllocator,
    version: str,
    *,
    sender: tuple[str, str] | None,
    when: datetime | None,
    line_break: str,
) -> InterchangeBuilder:
    usage = ic.isa.element(15) if ic.isa.element(15) in ("P", "T") else "P"
    return InterchangeBuilder(
        sender or _party(*ic.receiver),
        _party(*ic.sender),
        next_control,
        version=version,
        delimiters=_delimiters(ic, version >= "00402"),
        usage=usage,
        when=when,
        line_break=line_break,
    )


# --------------------------------------------------------------------------- TA1


def render_ta1(
    verdict: InterchangeVerdict,
    next_control: ControlAllocator,
    *,
    sender: tuple[str, str] | None = None,
    when: datetime | None = None,
    line_break: str = "",
) -> bytes:
    """An interchange holding one TA1 that answers ``verdict.interchange``.

    TA101–TA103 echo ISA13, ISA09 and ISA10; when one of them is not valid X12 it cannot
    be echoed and reads as zeros — TA105 then says which ISA field was wrong.
    """
    ic = verdict.interchange
    version = ic.version if ic.version in ("00401", "00501") else "00501"
    b = _builder(ic, next_control, version, sender=sender, when=when, line_break=line_break)
    isa13 = ic.control_number if re.fullmatch(r"\d{9}", ic.control_number) else "0" * 9
    isa09 = (
        ic.isa.element(9)
        if valid_date(ic.isa.element(9)) and len(ic.isa.element(9)) == 6
        else "000101"
    )
    isa10 = (
        ic.isa.element(10)
        if len(ic.isa.element(10)) == 4 and valid_time(ic.isa.element(10))
        else "0000"
    )
    b.add("TA1", isa13, isa09, isa10, verdict.code, verdict.note)
    return b.render()


# --------------------------------------------------------------------------- 999 / 997


def render_999(
    verdict: InterchangeVerdict,
    groups: Sequence[GroupVerdict],
    next_control: ControlAllocator,
    *,
    sender: tuple[str, str] | None = None,
    when: datetime | None = None,
    line_break: str = "",
) -> bytes:
    """One 005010X231A1 999 per group in ``groups``, in one FA group, in one interchange."""
    ic = verdict.interchange
    b = _builder(ic, next_control, "00501", sender=sender, when=when, line_break=line_break)
    fa = b.group("FA", ACK_999_VERSION, *_app_ids(groups[0].group, ic, b.delimiters))
    for gv in groups:
        _functional_ack(fa.transaction("999", ACK_999_VERSION), gv, _Style999())
    return b.render()


def render_997(
    verdict: InterchangeVerdict,
    groups: Sequence[GroupVerdict],
    next_control: ControlAllocator,
    *,
    sender: tuple[str, str] | None = None,
    when: datetime | None = None,
    line_break: str = "",
) -> bytes:
    """One 997 per group in ``groups``, in the inbound version (ISA12, GS08's release)."""
    ic = verdict.interchange
    version = ic.version if ic.version.isdigit() and "00200" <= ic.version <= "00501" else "00401"
    b = _builder(ic, next_control, version, sender=sender, when=when, line_break=line_break)
    release = groups[0].group.version[:6]
    fa = b.group(
        "FA",
        release if release.isdigit() else "004010",
        *_app_ids(groups[0].group, ic, b.delimiters),
    )
    for gv in groups:
        _functional_ack(fa.transaction("997"), gv, _Style997())
    return b.render()


def _app_ids(group: FunctionalGroup, ic: Interchange, d: Delimiters) -> tuple[str, str]:
    """GS02/GS03 of the answer: the inbound GS03/GS02, or the ISA ids when unusable."""

    def fit(value: str, fallback: str) -> str:
        value = _printable(value, d).strip()
        if 2 <= len(value) <= 15:
            return value
        return _printable(fallback, d).strip()[:15].ljust(2, "0")

    return fit(group.gs.element(3), ic.receiver[1]), fit(group.gs.element(2), ic.sender[1])


class _Style999:
    """Segment ids and code lists of the 999."""

    ak2_allowed: frozenset[str] | None = _AK201_999
    segment, element, trailer = "IK3", "IK4", "IK5"
    with_convention = True

    def segment_code(self, code: str) -> str:
        return code

    def element_code(self, code: str) -> str:
        return code

    def set_code(self, code: str) -> str:
        return code


class _Style997(_Style999):
    """997: AK3/AK4/AK5, no ``I`` codes, no AK103/AK203."""

    ak2_allowed = None
    segment, element, trailer = "AK3", "AK4", "AK5"
    with_convention = False

    def segment_code(self, code: str) -> str:
        return TO_997_AK304.get(code, code)

    def element_code(self, code: str) -> str:
        return TO_997_AK403.get(code, code)

    def set_code(self, code: str) -> str:
        return TO_997_AK502.get(code, code)


def _functional_ack(tb: TransactionBuilder, gv: GroupVerdict, style: _Style999) -> None:
    group = gv.group
    gs06 = "".join(c for c in group.control_number if c.isdigit())[:9] or "0"
    ak1 = [_alnum(group.functional_id)[:2] or "XX", gs06]
    if style.with_convention:
        ak1.append(_alnum(group.version)[:12] or "005010")
    tb.add("AK1", *ak1)
    for tv in gv.transactions:
        allowed = style.ak2_allowed
        if (allowed is None and _alnum(tv.ts.id)) or (allowed and tv.ts.id in allowed):
            _set_response(tb, tv, style)
    codes = _unique(gv.syntax_codes)[:5]
    tb.add("AK9", gv.code, gv.included, str(gv.received), str(gv.accepted), *codes)


def _set_response(tb: TransactionBuilder, tv: TransactionVerdict, style: _Style999) -> None:
    ts = tv.ts
    st02 = _printable(ts.control_number, tb.delimiters)[:9].rjust(4, "0")
    ak2 = [_alnum(ts.id)[:3], st02]
    st03 = _printable(ts.st.element(3), tb.delimiters)
    if style.with_convention and st03 and len(st03) <= 35:
        ak2.append(st03)
    tb.add("AK2", *ak2)
    _segment_errors(tb, tv.details, style)
    codes = _unique(style.set_code(c) for c in tv.syntax_codes)[:5]
    tb.add(style.trailer, "R" if tv.code == "R" else tv.code, *codes)


def _segment_errors(tb: TransactionBuilder, details: list[X12Finding], style: _Style999) -> None:
    """IK3 (one per segment in error, or per missing segment) each followed by its IK4s."""
    current: tuple[int | None, str | None] | None = None
    for f in details:
        seg_id = f.segment_id or ""
        if not _SEGMENT_ID.match(seg_id):
            continue  # an unreadable segment id cannot be named in IK301
        key = (f.position, seg_id)
        if f.level == Level.SEGMENT:
            tb.add(
                style.segment,
                seg_id,
                str(f.position or 1),
                _alnum(f.ls_id or "")[:4],
                style.segment_code(f.format_code or "8"),
            )
            current = key
            continue
        if key != current:
            tb.add(style.segment, seg_id, str(f.position or 1), _alnum(f.ls_id or "")[:4], "8")
            current = key
        tb.add(style.element, *_element_fields(f, style, tb.delimiters))


def _element_fields(
    f: X12Finding, style: _Style999, delimiters: Delimiters
) -> list[str | list[str]]:
    where = [str(f.element or 1)]
    if f.component or f.repetition:
        where.append(str(f.component) if f.component else "")
    if f.repetition:
        where.append(str(f.repetition))
    data_ele = f.data_element if f.data_element and len(f.data_element) <= 4 else ""
    fields: list[str | list[str]] = [
        where if len(where) > 1 else where[0],
        data_ele,
        style.element_code(f.format_code or "1"),
    ]
    # no IK404/AK404 copy of the bad value: an answer echoes no data from the input, only
    # where the error is and its code (the value could be PHI, or a secret that reached the
    # inbox; the acks folder is read by the partner) — docs/security.md, "The X12 inbox"
    return fields


def _printable(value: str, d: Delimiters | None = None) -> str:
    """``value`` without control, non-ASCII or separator characters (echoed values)."""
    seps = {d.element, d.component, d.segment, d.repetition} if d else set()
    return "".join(ch for ch in value if " " <= ch <= "~" and ch not in seps)


def _alnum(value: str) -> str:
    return "".join(ch for ch in value if ch.isascii() and ch.isalnum())


def _unique(codes: Iterable[str]) -> list[str]:
    out: list[str] = []
    for code in codes:
        if code not in out:
            out.append(code)
    return out
