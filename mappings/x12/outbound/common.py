"""Writers shared by the outbound renderers: the interchange builder, identifier
qualifiers chosen back from namespaces, NM1 names, N3/N4 addresses, DMG, amounts.

Identifier rule (the inverse of ``Source.id_namespace``): an identifier is written under
qualifier Q when its namespace is Q's (``x12_identifier_namespace`` or the destination's
``identifier_namespaces``), or ends in ``:x12:Q`` (a sender-private X12 namespace), or its
HL7 0203 type is Q's (NPI → XX, TAX → EI/24, SS → SY/34, MB → MI, NIIP → PI).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

from adapters.x12 import InterchangeBuilder, default_registry
from adapters.x12.builder import TransactionBuilder
from adapters.x12.guides import LoopSpec, SegmentSpec
from hub import ids
from hub.canonical import (
    Address,
    AdministrativeSex,
    ClaimParty,
    ContactPoint,
    Event,
    HumanName,
    Identifier,
    Money,
)
from hub.errors import MappingError
from mappings.vocab import VocabularyTables, builtin_tables

from ..values import format_amount, format_date
from .options import X12OutboundOptions

__all__ = [
    "address_segments",
    "dmg_elements",
    "fit",
    "guide_pattern",
    "id_for",
    "interchange",
    "matches",
    "money",
    "name_elements",
    "per_segment",
    "reference_id",
    "required",
]

_BUILTIN = VocabularyTables(builtin_tables())
#: HL7 0203 identifier type → the X12 qualifiers it may be written as
_TYPE_QUALIFIERS = {
    "NPI": {"XX", "HPI"},
    "TAX": {"EI", "24", "FI"},
    "SS": {"SY", "34"},
    "MB": {"MI", "1W"},
    "NIIP": {"PI"},
    "MR": {"EA"},
}
_PER_QUALIFIERS = {"phone": "TE", "fax": "FX", "email": "EM"}
_PER_QUALIFIERS = {"phone": "TE", "fax": "FX", "email": "EM"}
_SEX = {
    AdministrativeSex.MALE: "M",
    AdministrativeSex.FEMALE: "F",
    AdministrativeSex.UNKNOWN: "U",
    AdministrativeSex.OTHER: "U",
}


def interchange(options: X12OutboundOptions, version: str = "00501") -> InterchangeBuilder:
    """ISA … IEA for ``options``' partner: ISA05–08, ISA14/15, ISA12 ``version``."""
    return InterchangeBuilder(
        (options.sender_qualifier, options.sender_id),
        (options.receiver_qualifier, options.receiver_id),
        options.next_control,
        version=version,
        delimiters=options.delimiters,
        usage=options.usage,
        ack_requested=options.ack_requested,
        when=options.clock(),
        line_break=options.line_break,
    )


def reference_id(event: Event) -> str:
    """BHT03 / BEG-style originator reference: 20 hex digits of a hash of the event id, so
    a re-render of the same event carries the same reference (the idempotency key)."""
    return ids.reference_id(event.id)


def required(value: str | None, location: str, what: str) -> str:
    """``value``, or a MappingError naming the X12 place that needs it."""
    if not value:
        raise MappingError(
            f"{what} is required and the event has none", code="required", location=location
        )
    return value


def fit(value: str | None, width: int) -> str:
    """A value cut to its element's maximum length (names and addresses only)."""
    return (value or "").strip()[:width]


def matches(
    ident: Identifier, qualifier: str, options: X12OutboundOptions, by_type: bool = True
) -> bool:
    """Whether ``ident`` is written under ``qualifier`` (the module docstring's rule);
    with ``by_type`` False, by its namespace only."""
    system = ident.system or ""
    known = _BUILTIN.translate(
        "x12_identifier_namespace", qualifier
    ) or options.identifier_namespaces.get(qualifier)
    if known and system == known:
        return True
    if system.endswith(f":x12:{qualifier}"):
        return True
    return by_type and qualifier in _TYPE_QUALIFIERS.get(ident.type or "", set())


def id_for(
    identifiers: Iterable[Identifier], qualifiers: Sequence[str], options: X12OutboundOptions
) -> tuple[str, str] | None:
    """The first (qualifier, value) in ``qualifiers``' order that an identifier fits by
    namespace, else by type (a namespace says more than a type: XV and PI are both
    payer ids)."""
    idents = list(identifiers)
    for by_type in (False, True):
        for qualifier in qualifiers:
            for ident in idents:
                if matches(ident, qualifier, options, by_type):
                    return qualifier, ident.value
    return None


def per_segment(tb: TransactionBuilder, telecom: Sequence[ContactPoint]) -> None:
    """PER*IC with up to three (TE, FX, EM) numbers; nothing when there are none."""
    pairs: list[str] = []
    for point in telecom:
        qualifier = _PER_QUALIFIERS.get(point.system or "")
        if qualifier and len(pairs) < 6:
            pairs += [qualifier, fit(point.value, 256)]
    if pairs:
        tb.add("PER", "IC", "", *pairs)


def name_elements(party: ClaimParty, person: bool = False) -> list[str]:
    """NM102–NM107: entity type (1 person, 2 organization), last or organization name,
    first, middle, (prefix not written), suffix. A party with no name at all is a person
    when the loop names people (``person``: subscriber, patient, dependent)."""
    if party.name is not None and not party.organization_name:
        return _person(party.name)
    if person and not party.organization_name:
        return ["1", "", "", "", "", ""]
    return ["2", fit(party.organization_name, 60), "", "", "", ""]


def _person(name: HumanName) -> list[str]:
    given = list(name.given)
    first = given[0] if given else ""
    middle = " ".join(given[1:])
    return ["1", fit(name.family, 60), fit(first, 35), fit(middle, 25), "", fit(name.suffix, 10)]


def address_segments(
    tb: TransactionBuilder,
    address: Address | None,
    loop_id: str,
    *,
    street_required: bool = True,
    postal: re.Pattern[str] | None = None,
) -> None:
    """N3 (two street lines; omitted when there are none and the loop allows it) and N4
    (city, state, postal code — checked against the guide's pattern when it has one —
    and the country when not US)."""
    lines = [fit(line, 55) for line in address.lines[:2] if line.strip()] if address else []
    if address is None or (street_required and not lines) or not address.city:
        raise MappingError(
            "an address (street and city) is required here and the event has none",
            code="required",
            location=f"{loop_id}/N3",
        )
    if lines:
        tb.add("N3", *lines)
    zip_code = fit((address.postal_code or "").replace("-", ""), 15)
    if postal is not None and not postal.fullmatch(zip_code):
        raise MappingError(
            "the postal code does not have the form this guide requires (ZIP+4)",
            code="invalid",
            location=f"{loop_id}/N403",
        )
    country = (address.country or "").strip()
    tb.add(
        "N4",
        fit(address.city, 30),
        fit(address.state, 2),
        zip_code,
        country if country not in ("", "US", "USA") else "",
    )


@cache
def guide_pattern(ts_id: str, version: str, loop_id: str, ref: str) -> re.Pattern[str] | None:
    """The pattern the guide table gives element ``ref`` in ``loop_id`` (837I 2010AA
    N403: nine digits), or None."""
    guide = default_registry().find(ts_id, version)
    if guide is None:
        return None
    seg_id = ref[:-2]  # "N403" → "N4": the last two digits are the position
    for node in guide.root.walk():
        if isinstance(node, LoopSpec) and node.id == loop_id:
            for child in node.children:
                if isinstance(child, SegmentSpec) and child.id == seg_id:
                    for element in child.elements:
                        if element.ref == ref and element.regex is not None:
                            return element.regex
    return None


def dmg_elements(party: ClaimParty, sex_required: bool = True) -> list[str] | None:
    """DMG01 D8, DMG02 birth date, DMG03 sex (U when unknown and the guide requires it);
    None without a birth date."""
    if party.birth_date is None:
        return None
    sex = _SEX.get(party.sex) if party.sex else None
    return ["D8", format_date(party.birth_date), sex or ("U" if sex_required else "")]


def money(value: Money | None, location: str) -> str:
    """An amount (R) in USD; another currency cannot be carried by these guides."""
    if value is not None and value.currency != "USD":
        raise MappingError("X12 health-care amounts are USD", code="invalid", location=location)
    return format_amount(value)
