"""Canonical values → encoded HL7 v2 field text, the inverse of ``mappings.hl7v2.datatypes``.

``Writer`` escapes every value with the message's delimiters and turns canonical codes back
into HL7 table codes through the same vocabulary tables (``Vocabulary.reverse``), so what
inbound reads from a field, outbound writes into the same field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from adapters.hl7v2 import EncodingChars, Message, escape
from hub.canonical import (
    Address,
    Coded,
    ContactPoint,
    HumanName,
    Identifier,
    Money,
    Ref,
)

from ..datatypes import (
    CODING_SYSTEM_TABLE,
    IDENTIFIER_SYSTEM_TABLE,
    V2_TABLE_URI,
    CodedTable,
)
from .options import Hl7v2OutboundOptions

__all__ = ["Writer", "add_segment", "split_display"]

_OID = re.compile(r"\d+(\.\d+)+")
_MAX_IS = 20  # HD.1 and other IS values are IS(20) in v2.5.1


def add_segment(msg: Message, seg_id: str, fields: Mapping[int, str]) -> None:
    """Append ``seg_id`` with ``fields`` (field number → encoded text), gaps left empty."""
    top = max((n for n, text in fields.items() if text), default=0)
    msg.add_segment(seg_id, *(fields.get(n, "") for n in range(1, top + 1)))


def split_display(display: str | None) -> tuple[str | None, str | None]:
    """A reference's display ``Family, Given Second`` → (family, given); without a comma
    the whole display is the family name."""
    if not display:
        return None, None
    family, sep, given = display.partition(", ")
    return family.strip() or None, (given.strip() or None) if sep else None


class Writer:
    """Encodes values for one message: its delimiters, the destination's options."""

    def __init__(self, enc: EncodingChars, options: Hl7v2OutboundOptions):
        self.enc = enc
        self.options = options

    # ------------------------------------------------------------------ structure

    def e(self, value: str | None) -> str:
        """A primitive value, escaped."""
        return escape(value, self.enc) if value else ""

    def comps(self, *parts: str | None) -> str:
        """Encoded components joined, trailing empty ones dropped."""
        return _join(self.enc.component, parts)

    def subs(self, *parts: str | None) -> str:
        return _join(self.enc.subcomponent, parts)

    def reps(self, parts: Iterable[str]) -> str:
        """Encoded repetitions joined; empty ones dropped."""
        return self.enc.repetition.join(p for p in parts if p)

    def reverse(self, table: str, target: str | None) -> str | None:
        return self.options.vocab.reverse(table, target) if target else None

    # ------------------------------------------------------------------ primitives

    def dtm(self, value: datetime | date | None) -> str:
        """DTM: ``YYYYMMDD`` for a date; ``YYYYMMDDHHMMSS[.SSSS][+ZZZZ]`` for a datetime."""
        if value is None:
            return ""
        if not isinstance(value, datetime):
            return value.strftime("%Y%m%d")
        text = value.strftime("%Y%m%d%H%M%S")
        if value.microsecond:
            text += f".{value.microsecond // 100:04d}"
        offset = value.utcoffset()
        if offset is not None:
            minutes = int(offset.total_seconds() // 60)
            sign = "-" if minutes < 0 else "+"
            text += f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        return text

    def number(self, value: Decimal | int | None) -> str:
        if value is None:
            return ""
        return format(value, "f") if isinstance(value, Decimal) else str(value)

    # ------------------------------------------------------------------ identifiers

    def select(self, identifiers: Sequence[Identifier], kind: str) -> list[Identifier]:
        """The identifiers to send: the destination's own (``source``), else those in its
        namespace for ``kind``, else all of them."""
        dest = self.options.destination
        own = [i for i in identifiers if dest and i.source == dest]
        if own:
            return own
        namespace = self.options.identifier_namespaces.get(kind)
        named = [i for i in identifiers if namespace and i.system == namespace]
        return named or list(identifiers)

    def hd_parts(self, system: str | None) -> tuple[str, str, str]:
        """An identifier namespace as HD (.1 namespace, .2 universal id, .3 its type):
        well-known URIs back to their OID or name (``hl7_identifier_system``), an OID as
        ``ISO``, a URI as ``URI``, a short name as the namespace."""
        if not system:
            return "", "", ""
        system = self.reverse(IDENTIFIER_SYSTEM_TABLE, system) or system
        if _OID.fullmatch(system):
            return "", self.e(system), "ISO"
        if ":" in system or "/" in system or len(system) > _MAX_IS:
            return "", self.e(system), "URI" if ":" in system else "L"
        return self.e(system), "", ""

    def cx(self, ident: Identifier) -> str:
        """CX: .1 value, .4 assigning authority, .5 type, .7/.8 validity."""
        authority = self.subs(*self.hd_parts(ident.system))
        period = ident.period if self.options.version_at_least(2, 4) else None  # CX.7/8
        # CX.7 effective / CX.8 expiration date are DT (a date), whatever the period holds
        start = period.start.strftime("%Y%m%d") if period and period.start else ""
        end = period.end.strftime("%Y%m%d") if period and period.end else ""
        return self.comps(
            self.e(ident.value), "", "", authority, self.e(ident.type), "", start, end
        )

    def ei(self, value: str | None, system: str | None) -> str:
        """EI: .1 value, .2-.4 its namespace as HD."""
        if not value:
            return ""
        return self.comps(self.e(value), *self.hd_parts(system))

    # ------------------------------------------------------------------ people

    def xpn(self, name: HumanName) -> str:
        """XPN: .1 family, .2 given, .3 further given names, .4 suffix, .5 prefix, .7 type."""
        given = name.given
        return self.comps(
            self.e(name.family),
            self.e(given[0] if given else None),
            self.e(" ".join(given[1:]) or None),
            self.e(name.suffix),
            self.e(name.prefix),
            "",
            self.e(self.reverse("hl7_name_type", name.use)),
        )

    def xpn_display(self, display: str | None) -> str:
        """A reference's display as XPN; ``U`` (unknown) as the name type when there is none,
        so a segment that requires a name (PID-5) says "unknown" rather than nothing."""
        family, given = split_display(display)
        if family is None and given is None:
            return self.comps("", "", "", "", "", "", "U")
        return self.comps(self.e(family), self.e(given))

    def xcn(self, ref: Ref, kind: str = "practitioner") -> str:
        """XCN from a reference: .1 id, .2/.3 name from the display, .9 authority, .13 type."""
        idents = self.select(ref.identifiers, kind)
        ident = idents[0] if idents else None
        family, given = split_display(ref.display)
        return self.comps(
            self.e(ident.value if ident else None),
            self.e(family),
            self.e(given),
            "", "", "", "", "",
            self.subs(*self.hd_parts(ident.system if ident else None)),
            "", "", "",
            self.e(ident.type if ident else None),
        )  # fmt: skip

    def xon(self, ref: Ref) -> str:
        """XON from a reference: .1 name, .6 authority, .7 id type, .10 organisation id
        (from v2.5; older versions get the name only, their XON.3 being numeric)."""
        idents = self.select(ref.identifiers, "organization")
        ident = idents[0] if idents and self.options.version_at_least(2, 5) else None
        return self.comps(
            self.e(ref.display),
            "", "", "", "",
            self.subs(*self.hd_parts(ident.system if ident else None)),
            self.e(ident.type if ident else None),
            "", "",
            self.e(ident.value if ident else None),
        )  # fmt: skip

    def pl(self, ref: Ref) -> str:
        """PL from a location reference: ``unit/room/bed`` back into .1-.3, its namespace
        as .4 facility, the display as .9 description."""
        ident = next((i for i in ref.identifiers if i.type == "PL"), None)
        ident = ident or (ref.identifiers[0] if ref.identifiers else None)
        parts = ident.value.split("/", 2) if ident else []
        parts += [""] * (3 - len(parts))
        facility = self.subs(*self.hd_parts(ident.system if ident else None))
        return self.comps(
            *(self.e(p) for p in parts), facility, "", "", "", "", self.e(ref.display)
        )

    # ------------------------------------------------------------------ contact

    def xad(self, addr: Address) -> str:
        """XAD: .1 street, .2 further lines, .3 city, .4 state, .5 zip, .6 country, .7 type
        (from use, else type), .9 county."""
        kind = self.reverse("hl7_address_use", addr.use) or self.reverse(
            "hl7_address_type", addr.type
        )
        lines = addr.lines
        return self.comps(
            self.e(lines[0] if lines else None),
            self.e(" ".join(lines[1:]) or None),
            self.e(addr.city),
            self.e(addr.state),
            self.e(addr.postal_code),
            self.e(addr.country),
            self.e(kind),
            "",
            self.e(addr.district),
        )

    def xtn(self, point: ContactPoint) -> str:
        """XTN: e-mail as ``^NET^Internet^address``; otherwise .1 number (.12, unformatted,
        from v2.6 where .1 is withdrawn), .2 use, .3 equipment (a mobile phone is ``CP``)."""
        if point.system == "email":
            return self.comps("", "NET", "Internet", self.e(point.value))
        use = self.reverse("hl7_telecom_use", point.use)
        equipment = self.reverse("hl7_telecom_equipment", point.system or "phone")
        if point.use == "mobile" and point.system in (None, "phone"):
            equipment = "CP"
        if self.options.version_at_least(2, 6):
            pad = ("",) * 8
            return self.comps("", self.e(use), self.e(equipment), *pad, self.e(point.value))
        return self.comps(self.e(point.value), self.e(use), self.e(equipment))

    # ------------------------------------------------------------------ codes

    def system_name(self, system: str | None) -> str | None:
        """A code system URI back to its HL7 table 0396 name (``SCT``, ``HL70005``)."""
        if not system:
            return None
        if system.startswith(V2_TABLE_URI):
            return "HL7" + system[len(V2_TABLE_URI) :]
        return self.reverse(CODING_SYSTEM_TABLE, system) or system

    def cwe(self, coded: Coded | None, table: CodedTable | None = None) -> str:
        """CWE/CE: .1 code, .2 text, .3 coding system. A code in ``table``'s target system
        goes back to its HL7 code."""
        if coded is None:
            return ""
        code, system = coded.code, self.system_name(coded.system)
        if table is not None and coded.system == table.system:
            code, system = self.reverse(table.table, code) or code, table.hl7_table
        return self.comps(self.e(code), self.e(coded.display), self.e(system))

    def code(self, table: str, target: str | None) -> str:
        """A bare table code (IS/ID) for a canonical value."""
        return self.e(self.reverse(table, target))

    def cp(self, money: Money | None) -> str:
        """CP: .1 price as MO (amount & currency)."""
        if money is None:
            return ""
        return self.comps(self.subs(self.number(money.amount), self.e(money.currency)))


def _join(sep: str, parts: Sequence[str | None]) -> str:
    items = [p or "" for p in parts]
    while items and not items[-1]:
        items.pop()
    return sep.join(items)
