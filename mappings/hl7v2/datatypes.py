"""HL7 v2 composite datatypes → canonical values, after the V2-to-FHIR datatype maps.

CX → Identifier, XPN → HumanName, XAD → Address, XTN → ContactPoint, CWE/CE/IS → Coded,
XCN → Ref(Practitioner), PL → Ref(Location), XON → Ref(Organization), EI → Identifier,
CP/MO → Money. Each reads one repetition; empty input gives None, never an empty value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.hl7v2 import Repetition
from hub.canonical import (
    Address,
    Coded,
    ContactPoint,
    EntityType,
    HumanName,
    Identifier,
    Money,
    Period,
    Ref,
)
from hub.errors import MappingError

from .source import Hl7v2Source, rep_text
from .values import parse_date, parse_decimal

__all__ = [
    "CODING_SYSTEM_TABLE",
    "IDENTIFIER_SYSTEM_TABLE",
    "IDENTIFIER_TYPE_TABLE",
    "NPI_SYSTEM",
    "MARITAL_STATUS",
    "PATIENT_CLASS",
    "CodedTable",
    "address",
    "coded",
    "coding_system",
    "contact_point",
    "cx_identifier",
    "ei_identifier",
    "hd_system",
    "identifier_system",
    "local_system",
    "human_name",
    "location_key",
    "money",
    "org_ref",
    "person_display",
    "pl_ref",
    "xcn_ref",
]

CODING_SYSTEM_TABLE = "hl7_coding_system"
IDENTIFIER_TYPE_TABLE = "hl7_identifier_type"
IDENTIFIER_SYSTEM_TABLE = "hl7_identifier_system"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
_HL7_TABLE = re.compile(r"HL7(\d{4})", re.IGNORECASE)
V2_TABLE_URI = "http://terminology.hl7.org/CodeSystem/v2-"


@dataclass(frozen=True, slots=True)
class CodedTable:
    """A vocabulary table whose targets belong to one code system (``system``); codes with
    no row stay as sent, in the HL7 table ``hl7_table`` (``HL70004``)."""

    table: str
    system: str
    hl7_table: str


PATIENT_CLASS = CodedTable(
    "hl7_patient_class", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "HL70004"
)
MARITAL_STATUS = CodedTable(
    "hl7_marital_status", "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "HL70002"
)


def coding_system(src: Hl7v2Source, name: str | None) -> str | None:
    """CWE.3 (HL7 table 0396 name) → a code system URI: ``HL70005`` → the v2 table's URI,
    ``SCT``/``LN``/``I10``/``C4``… via the ``hl7_coding_system`` table, else as sent."""
    if not name:
        return None
    match = _HL7_TABLE.fullmatch(name)
    if match:
        return V2_TABLE_URI + match.group(1)
    return src.lookup(CODING_SYSTEM_TABLE, name) or name


def coded(
    src: Hl7v2Source, rep: Repetition | None, table: CodedTable | None = None
) -> Coded | None:
    """CWE/CE/CNE (or a bare IS/ID code) → Coded. CWE.1-3 are read, else the alternate
    CWE.4-6. With ``table``, a code that has a row is replaced by its target."""
    if rep is None:
        return None
    code, text, system = rep_text(rep, 1), rep_text(rep, 2), rep_text(rep, 3)
    if code is None and rep_text(rep, 4):
        code, text, system = rep_text(rep, 4), rep_text(rep, 5) or text, rep_text(rep, 6)
    if code is None and text is None:
        return None
    if table is not None and code is not None:
        target = src.lookup(table.table, code)
        if target:
            return Coded(code=target, system=table.system, display=text)
        system = system or table.hl7_table
    return Coded(code=code, system=coding_system(src, system), display=text)


def hd_system(rep: Repetition, component: int) -> str | None:
    """An HD component (assigning authority): HD.1 namespace, else HD.2 universal id."""
    return rep_text(rep, component, 1) or rep_text(rep, component, 2)


def identifier_system(src: Hl7v2Source, authority: str | None, type_: str | None, kind: str) -> str:
    """The namespace of an identifier: its assigning authority, with well-known ones (the
    NPI and SSN OIDs and names) normalised through ``hl7_identifier_system`` so the same
    NPI matches across HL7, FHIR and X12; an NPI-typed id without an authority is an NPI;
    else the sending system's namespace for ``kind``."""
    if authority:
        return src.lookup(IDENTIFIER_SYSTEM_TABLE, authority) or authority
    if (type_ or "").upper() == "NPI":
        return NPI_SYSTEM
    return src.namespace(kind)


def local_system(src: Hl7v2Source, system: str | None, kind: str) -> str:
    """An identifier namespace taken from a coding system name: a local one (``L``,
    ``99zzz``) or none is private to the sending system."""
    if not system or system.upper() == "L" or system.startswith("99"):
        return src.namespace(kind)
    return system


def cx_identifier(src: Hl7v2Source, rep: Repetition, kind: str, loc: str) -> Identifier | None:
    """CX → Identifier: CX.1 value, CX.4 system (else the namespace for ``kind``), CX.5
    type (through ``hl7_identifier_type``), CX.7/CX.8 validity period."""
    value = rep_text(rep, 1)
    if value is None:
        return None
    raw_type = rep_text(rep, 5)
    type_ = src.lookup(IDENTIFIER_TYPE_TABLE, raw_type) or raw_type
    ident = src.identifier(value, identifier_system(src, hd_system(rep, 4), type_, kind), type_)
    start, end = parse_date(rep_text(rep, 7), loc), parse_date(rep_text(rep, 8), loc)
    if start or end:
        ident.period = Period(start=start, end=end)
    return ident


def ei_identifier(
    src: Hl7v2Source, rep: Repetition | None, kind: str, type_: str | None = None
) -> Identifier | None:
    """EI → Identifier: EI.1 value, EI.2 namespace (else EI.3 universal id, else the
    namespace for ``kind``)."""
    if rep is None:
        return None
    value = rep_text(rep, 1)
    if value is None:
        return None
    system = rep_text(rep, 2) or rep_text(rep, 3) or src.namespace(kind)
    return src.identifier(value, system, type_)


def human_name(src: Hl7v2Source, rep: Repetition | None, offset: int = 0) -> HumanName | None:
    """XPN → HumanName: .1 family, .2 and .3 given, .4 suffix, .5 prefix, .7 use (table
    0200 through ``hl7_name_type``). XPN.6 (degree) has no canonical place and is dropped.
    ``offset`` 1 reads the same layout inside an XCN (whose name starts at XCN.2)."""
    if rep is None:
        return None
    family = rep_text(rep, 1 + offset, 1)
    given = [g for g in (rep_text(rep, 2 + offset), rep_text(rep, 3 + offset)) if g]
    suffix, prefix = rep_text(rep, 4 + offset), rep_text(rep, 5 + offset)
    if not (family or given or suffix or prefix):
        return None
    use = src.lookup("hl7_name_type", rep_text(rep, 7 + offset)) if offset == 0 else None
    return HumanName(family=family, given=given, suffix=suffix, prefix=prefix, use=use)


def person_display(name: HumanName | None) -> str | None:
    """How a reference shows a person: ``Family, Given Second`` (outbound splits it back)."""
    if name is None:
        return None
    given = " ".join(name.given)
    if name.family and given:
        return f"{name.family}, {given}"
    return name.family or given or None


def xcn_ref(src: Hl7v2Source, rep: Repetition | None, kind: str = "practitioner") -> Ref | None:
    """XCN → Ref(Practitioner): XCN.1 id with XCN.9 assigning authority (else the
    namespace) and XCN.13 type; XCN.2-5 as the display."""
    if rep is None:
        return None
    value = rep_text(rep, 1)
    display = person_display(human_name(src, rep, offset=1))
    if value is None and display is None:
        return None
    idents = []
    if value is not None:
        type_ = rep_text(rep, 13)
        system = identifier_system(src, hd_system(rep, 9), type_, kind)
        idents.append(src.identifier(value, system, type_))
    return Ref(type=EntityType.PRACTITIONER, identifiers=idents, display=display)


def address(src: Hl7v2Source, rep: Repetition) -> Address | None:
    """XAD → Address: .1 street (SAD.1, else SAD.3 + SAD.2), .2 other designation, .3
    city, .4 state, .5 postal code, .6 country, .7 type (table 0190 → use and type), .9
    county."""
    street = rep_text(rep, 1, 1) or " ".join(
        p for p in (rep_text(rep, 1, 3), rep_text(rep, 1, 2)) if p
    )
    lines = [line for line in (street, rep_text(rep, 2)) if line]
    addr = Address(
        lines=lines,
        city=rep_text(rep, 3),
        state=rep_text(rep, 4),
        postal_code=rep_text(rep, 5),
        country=rep_text(rep, 6),
        district=rep_text(rep, 9),
    )
    if addr == Address():
        return None
    kind = rep_text(rep, 7)
    addr.use = src.lookup("hl7_address_use", kind)
    addr.type = src.lookup("hl7_address_type", kind)
    return addr


def contact_point(
    src: Hl7v2Source, rep: Repetition, default_use: str | None
) -> ContactPoint | None:
    """XTN → ContactPoint. System from XTN.3 (table 0202), use from XTN.2 (table 0201),
    ``CP`` meaning a mobile phone; the value is XTN.4 for e-mail, else XTN.1, XTN.12 or
    the number composed from XTN.5-8."""
    use_code, equipment = rep_text(rep, 2), rep_text(rep, 3)
    system = src.lookup("hl7_telecom_equipment", equipment)
    email = rep_text(rep, 4)
    if system is None:
        system = "email" if use_code == "NET" or (email and not _number(rep)) else "phone"
    value = email if system == "email" and email else _number(rep) or email
    if value is None:
        return None
    use = "mobile" if (equipment or "").upper() == "CP" else None
    use = use or src.lookup("hl7_telecom_use", use_code) or default_use
    return ContactPoint(system=system, value=value, use=use)


def _number(rep: Repetition) -> str | None:
    text = rep_text(rep, 1) or rep_text(rep, 12)
    if text:
        return text
    country, area, local, ext = (rep_text(rep, n) for n in (5, 6, 7, 8))
    if local is None:
        return None
    parts = [f"+{country}" if country else None, f"({area})" if area else None, local]
    number = " ".join(p for p in parts if p)
    return f"{number} x{ext}" if ext else number


def location_key(point_of_care: str | None, room: str | None, bed: str | None) -> str | None:
    """The value of a PL-derived location identifier: ``unit/room/bed`` (trailing empty
    parts dropped; outbound splits it back into PL.1-3)."""
    parts = [point_of_care or "", room or "", bed or ""]
    while parts and not parts[-1]:
        parts.pop()
    return "/".join(parts) or None


def pl_ref(src: Hl7v2Source, rep: Repetition | None) -> Ref | None:
    """PL → Ref(Location): identifier ``PL.1/PL.2/PL.3`` in the PL.4 facility's namespace
    (else the namespace for locations); PL.9 description as the display."""
    if rep is None:
        return None
    key = location_key(rep_text(rep, 1, 1), rep_text(rep, 2, 1), rep_text(rep, 3, 1))
    facility = hd_system(rep, 4)
    display = rep_text(rep, 9)
    if key is None:
        if facility is None and display is None:
            return None
        key = facility or display
    assert key is not None
    ident = src.identifier(key, facility or src.namespace("location"), "PL")
    return Ref(type=EntityType.LOCATION, identifiers=[ident], display=display)


def org_ref(src: Hl7v2Source, rep: Repetition | None) -> Ref | None:
    """XON → Ref(Organization): XON.1 name as display; XON.10 (else XON.3) identifier in
    the XON.6 assigning authority (else the namespace for organizations)."""
    if rep is None:
        return None
    name = rep_text(rep, 1)
    value = rep_text(rep, 10) or rep_text(rep, 3)
    if name is None and value is None:
        return None
    idents = []
    if value is not None:
        type_ = rep_text(rep, 7)
        system = identifier_system(src, hd_system(rep, 6), type_, "organization")
        idents.append(src.identifier(value, system, type_))
    return Ref(type=EntityType.ORGANIZATION, identifiers=idents, display=name)


def money(rep: Repetition | None, loc: str) -> Money | None:
    """CP/MO → Money: CP.1.1 (MO.1) amount, CP.1.2 (MO.2) currency, USD when absent."""
    if rep is None:
        return None
    amount = parse_decimal(rep_text(rep, 1, 1), loc)
    if amount is None:
        return None
    currency = rep_text(rep, 1, 2) or "USD"
    if len(currency) != 3 or not currency.isalpha():
        raise MappingError(f"{currency!r} is not a currency code", code="102", location=loc)
    return Money(amount=amount, currency=currency.upper())
