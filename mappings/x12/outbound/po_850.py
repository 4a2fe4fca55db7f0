"""``supply.order.placed`` → 850 (005010 by default, 004010 on request): one order per
interchange.

BEG (BEG01 purpose, default 00 original; BEG02 type, default SA stand-alone; BEG03 PO
number; BEG05 order date), DTM*002 requested delivery, N1 loops BY buyer, ST ship-to, VN
vendor (N3/N4 when an address is known), PO1 per line with its product ids, PID*F
description, CTT (line count, quantity hash total) and AMT*TT total.
"""

from __future__ import annotations

from decimal import Decimal

from adapters.x12 import Interchange
from adapters.x12.builder import TransactionBuilder
from hub.canonical import ClaimParty, Event, Identifier, OrderLine, PurchaseOrder
from hub.errors import MappingError
from mappings.vocab import VocabularyTables, builtin_tables

from ..values import format_date, format_decimal
from .common import address_segments, fit, interchange, money
from .options import X12OutboundOptions

__all__ = ["product_qualifier", "render_850"]

_BUILTIN = VocabularyTables(builtin_tables())
#: N103 qualifiers a party id may be written with, in preference order
_N1_QUALIFIERS = ("1", "9", "91", "92", "FI", "UL", "ZZ")


def render_850(event: Event, options: X12OutboundOptions) -> Interchange:
    """The 850 interchange for a ``supply.order.placed`` event."""
    order = event.entity
    if not isinstance(order, PurchaseOrder):
        raise MappingError(
            "supply.order.placed carries a PurchaseOrder", code="invalid", location="event.entity"
        )
    version = options.purchase_order_version
    builder = interchange(options, "00501" if version == "005010" else "00401")
    tb = builder.group("PO", version, options.gs_sender, options.gs_receiver).transaction("850")
    ordered = order.order_date or options.clock().date()
    tb.add(
        "BEG",
        order.purpose or "00",
        order.order_type or "SA",
        fit(order.po_number, 22),
        "",
        format_date(ordered),
    )
    if order.requested_delivery is not None:
        tb.add("DTM", "002", format_date(order.requested_delivery))
    for code, party in (("BY", order.buyer), ("ST", order.ship_to), ("VN", order.vendor)):
        if party is not None:
            _party(tb, code, party)
    if not order.lines:
        raise MappingError("an order needs at least one line", code="required", location="PO1")
    for n, line in enumerate(order.lines, 1):
        _line(tb, n, line)
    hash_total = sum((line.quantity for line in order.lines), Decimal(0))
    tb.add("CTT", str(len(order.lines)), format_decimal(hash_total))
    if order.total is not None:
        tb.add("AMT", "TT", money(order.total, "AMT02"))
    return builder.build()


def _party(tb: TransactionBuilder, code: str, party: ClaimParty) -> None:
    """N1 (N102 name, N103/N104 the party's X12-namespaced id), N3/N4. A party known only
    by a reference is named by its display; N1 needs a name or an id (syntax R0203)."""
    ref = party.ref
    name = (
        party.organization_name
        or (party.name.family if party.name else None)
        or (ref.display if ref is not None else None)
        or ""
    )
    found = next(
        (
            (q, i.value)
            for q in _N1_QUALIFIERS
            for i in [*party.identifiers, *(ref.identifiers if ref is not None else [])]
            if (i.system or "").endswith(f":x12:{q}")
        ),
        None,
    )
    if not name.strip() and found is None:
        raise MappingError(
            f"the N1*{code} party has neither a name nor an identifier X12 can carry",
            code="required",
            location=f"N1[{code}]/N102",
        )
    tb.add("N1", code, fit(name, 60), *(found or ()))
    if party.address is not None:
        address_segments(tb, party.address, f"N1[{code}]", street_required=False)


def product_qualifier(ident: Identifier) -> str:
    """PO106-style qualifier: the identifier's type when it is one, its X12 namespace's,
    the NDC's (N4), else ZZ (mutually defined)."""
    if ident.type and 1 < len(ident.type) <= 2 and ident.type.isalnum():
        return ident.type
    system = ident.system or ""
    if ":x12:" in system:
        return system.rsplit(":", 1)[1]
    return "N4" if system == _BUILTIN.translate("x12_identifier_namespace", "N4") else "ZZ"


def _line(tb: TransactionBuilder, n: int, line: OrderLine) -> None:
    """PO101 line number (empty when the order has none), PO102 quantity, PO103 unit (EA
    when unknown), PO104 unit price, PO106… (qualifier, id) pairs (ten at most); PID*F
    description."""
    pairs = [
        e for ident in line.item_identifiers[:10] for e in (product_qualifier(ident), ident.value)
    ]
    tb.add(
        "PO1",
        fit(line.line_number, 20),
        format_decimal(line.quantity),
        line.unit_of_measure or "EA",
        money(line.unit_price, f"PO1[{n}]/PO104"),
        "",
        *pairs,
    )
    if line.description:
        tb.add("PID", "F", "", "", "", fit(line.description, 80))
