"""Supply chain: 850 → ``supply.order.placed``, 855 → ``supply.order.acknowledged``, 856 →
``supply.order.shipped``, 810 → ``supply.order.invoiced`` (004010, 004010VICS, 004060,
005010 alike).

These sets are read segment by segment, not through a guide's loop tree: trading partners'
versions (004060 ASNs, VICS) have no table here, and the loops are flat — a line starts at
its PO1/IT1 (an 856 item at its ``HL*…*I``) and owns what follows until the next one.
Header name loops (N1 … before the first line) give the parties by N101.

Product ids (PO106/107 … PO124/125, IT106/107 …, LIN02/03 …) become ``Identifier(value,
system=namespace of the qualifier, type=qualifier)``; the qualifier PD (part description)
is a description, not an id.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from adapters.x12 import Segment
from hub.canonical import (
    ClaimParty,
    Event,
    EventKind,
    Identifier,
    Invoice,
    InvoiceLine,
    Money,
    OrderAckLine,
    OrderAckLineStatus,
    OrderAcknowledgment,
    OrderLine,
    PurchaseOrder,
    ShipNotice,
    ShippedItem,
)
from hub.errors import MappingError

from .parties import n1_party
from .source import X12Source
from .values import (
    parse_amount,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_implied,
)

__all__ = [
    "INVOICE_ID_SYSTEM",
    "PO_ID_SYSTEM",
    "SHIPMENT_ID_SYSTEM",
    "map_810",
    "map_850",
    "map_855",
    "map_856",
    "product_ids",
]

#: business-number namespaces, as the FHIR supply mappings name them
PO_ID_SYSTEM = "BEG03"
SHIPMENT_ID_SYSTEM = "BSN02"
INVOICE_ID_SYSTEM = "BIG02"
#: N101 entity codes → the canonical party they fill
_BUYERS, _VENDORS = frozenset({"BY"}), frozenset({"VN", "SE", "SU", "RI"})
_SHIP_TO, _SHIP_FROM, _BILL_TO = frozenset({"ST"}), frozenset({"SF", "SH"}), frozenset({"BT"})
_LINE_TRIGGERS = frozenset({"PO1", "IT1"})


# --------------------------------------------------------------------------- reading


def _body(src: X12Source) -> list[Segment]:
    return src.ts.body


def _split(
    segments: list[Segment], trigger: frozenset[str]
) -> tuple[list[Segment], list[list[Segment]]]:
    """(header segments, one list per line starting at its trigger segment)."""
    head: list[Segment] = []
    lines: list[list[Segment]] = []
    for seg in segments:
        if seg.id in trigger:
            lines.append([seg])
        elif lines:
            lines[-1].append(seg)
        else:
            head.append(seg)
    return head, lines


def _name_loops(segments: list[Segment]) -> Iterator[list[Segment]]:
    """Each N1 with the N2/N3/N4/REF/PER that follow it."""
    current: list[Segment] | None = None
    for seg in segments:
        if seg.id == "N1":
            if current:
                yield current
            current = [seg]
        elif current is not None and seg.id in ("N2", "N3", "N4", "REF", "PER"):
            current.append(seg)
        elif current is not None:
            yield current
            current = None
    if current:
        yield current


def _parties(src: X12Source, segments: list[Segment], codes: frozenset[str]) -> ClaimParty | None:
    for loop in _name_loops(segments):
        if loop[0].element(1) in codes:
            return n1_party(src, loop, f"N1[{loop[0].element(1)}]")
    return None


def _first(segments: list[Segment], seg_id: str, qualifier: str | None = None) -> Segment | None:
    for seg in segments:
        if seg.id == seg_id and (qualifier is None or seg.element(1) == qualifier):
            return seg
    return None


def _text(seg: Segment | None, pos: int) -> str | None:
    return (seg.element(pos).strip() or None) if seg is not None else None


def product_ids(
    src: X12Source, seg: Segment, first: int, last: int
) -> tuple[list[Identifier], str | None]:
    """(qualifier, id) pairs from element ``first`` on: identifiers, and a PD description."""
    ids: list[Identifier] = []
    description = None
    for pos in range(first, last, 2):
        qualifier, value = seg.element(pos).strip(), seg.element(pos + 1).strip()
        if not qualifier or not value:
            continue
        if qualifier == "PD":
            description = value
            continue
        ids.append(src.identifier(value, src.id_namespace(qualifier), qualifier))
    return ids, description


def _description(segments: list[Segment]) -> str | None:
    """PID*F (free form) PID05."""
    pid = _first(segments, "PID", "F")
    return _text(pid, 5)


def _required(value: str | None, location: str) -> str:
    if not value:
        raise MappingError("required value missing", code="required", location=location)
    return value


def _quantity(seg: Segment, pos: int, loc: str) -> Decimal:
    value = parse_decimal(seg.element(pos), loc)
    if value is None:
        raise MappingError("quantity missing", code="required", location=loc)
    return value


def _money(seg: Segment, pos: int, loc: str) -> Money | None:
    return parse_amount(seg.element(pos), loc)


def _dtm(segments: list[Segment], qualifier: str, loc: str) -> date | None:
    seg = _first(segments, "DTM", qualifier)
    return parse_date(seg.element(2), loc) if seg is not None else None


def _as_datetime(day: date | None) -> datetime | None:
    return datetime.combine(day, datetime.min.time()) if day else None


# --------------------------------------------------------------------------- 850


def map_850(src: X12Source) -> list[Event]:
    """BEG01 purpose, BEG02 type, BEG03 PO number, BEG05 date; DTM*002 delivery requested
    (else DTM*106 required by);
    N1 BY buyer, VN/SE/SU vendor, ST ship-to; PO1 lines; AMT (after CTT) total."""
    head, lines = _split(_body(src), _LINE_TRIGGERS)
    beg = _first(head, "BEG")
    if beg is None:
        raise MappingError("850 has no BEG segment", code="required", location="BEG")
    po_number = _required(_text(beg, 3), "BEG03")
    order = PurchaseOrder(
        identifiers=[src.identifier(po_number, PO_ID_SYSTEM)],
        po_number=po_number,
        purpose=_text(beg, 1),
        order_type=_text(beg, 2),
        order_date=parse_date(beg.element(5), "BEG05"),
        buyer=_parties(src, head, _BUYERS),
        vendor=_parties(src, head, _VENDORS),
        ship_to=_parties(src, head, _SHIP_TO),
        requested_delivery=_dtm(head, "002", "DTM02") or _dtm(head, "106", "DTM02"),
        lines=[_order_line(src, line, n) for n, line in enumerate(lines, 1)],
        total=_total(lines),
    )
    when = _as_datetime(order.order_date)
    src.stamp(order, when)
    return [src.event(EventKind.SUPPLY_ORDER_PLACED, order, when)]


def _order_line(src: X12Source, segments: list[Segment], n: int) -> OrderLine:
    """PO101 line number, PO102 quantity, PO103 unit, PO104 unit price, PO106… ids; PID."""
    po1 = segments[0]
    ids, described = product_ids(src, po1, 6, 26)
    return OrderLine(
        line_number=_text(po1, 1),
        item_identifiers=ids,
        description=_description(segments) or described,
        quantity=_quantity(po1, 2, f"PO1[{n}]/PO102"),
        unit_of_measure=_text(po1, 3),
        unit_price=_money(po1, 4, f"PO1[{n}]/PO104"),
    )


def _total(lines: list[list[Segment]]) -> Money | None:
    """The AMT after CTT (AMT01 TT or 1, total transaction / line item total)."""
    tail = lines[-1] if lines else []
    after = tail[next((i for i, s in enumerate(tail) if s.id == "CTT"), len(tail)) :]
    amt = next((s for s in after if s.id == "AMT" and s.element(1) in ("TT", "1", "GV")), None)
    return parse_amount(amt.element(2), "AMT02") if amt is not None else None


# --------------------------------------------------------------------------- 855


def map_855(src: X12Source) -> list[Event]:
    """BAK02 acknowledgment type (accepted or not through ``x12_po_ack_type``), BAK03 PO
    number, BAK09 acknowledgment date; N1 vendor; PO1 + ACK per line."""
    head, lines = _split(_body(src), _LINE_TRIGGERS)
    bak = _first(head, "BAK")
    if bak is None:
        raise MappingError("855 has no BAK segment", code="required", location="BAK")
    po_number = _required(_text(bak, 3), "BAK03")
    verdict = src.lookup("x12_po_ack_type", bak.element(2).strip())
    accepted = {"accepted": True, "rejected": False}.get(verdict or "")
    ack = OrderAcknowledgment(
        identifiers=[src.identifier(po_number, PO_ID_SYSTEM)],
        po_number=po_number,
        ack_type=_text(bak, 2),
        accepted=accepted,
        ack_date=parse_date(bak.element(9), "BAK09"),
        vendor=_parties(src, head, _VENDORS),
        lines=[_ack_line(src, line, n, accepted) for n, line in enumerate(lines, 1)],
    )
    when = _as_datetime(ack.ack_date or parse_date(bak.element(4), "BAK04"))
    src.stamp(ack, when)
    return [src.event(EventKind.SUPPLY_ORDER_ACKNOWLEDGED, ack, when)]


def _ack_line(
    src: X12Source, segments: list[Segment], n: int, accepted: bool | None
) -> OrderAckLine:
    """ACK01 line status (``x12_ack_line_status``; a line without ACK takes the header's
    verdict), ACK02/03 quantity and unit (else PO102/103), ACK05 date (else SCH06)."""
    po1 = segments[0]
    ack = _first(segments, "ACK")
    code = _text(ack, 1)
    status = _line_status(src, code, accepted, f"PO1[{n}]/ACK01")
    ids, _ = product_ids(src, po1, 6, 26)
    qty_seg, qty_pos = (ack, 2) if ack is not None and ack.element(2).strip() else (po1, 2)
    sch = _first(segments, "SCH")
    scheduled = parse_date(ack.element(5), f"PO1[{n}]/ACK05") if ack is not None else None
    return OrderAckLine(
        line_number=_text(po1, 1),
        status=status,
        status_code=code,
        quantity=parse_decimal(qty_seg.element(qty_pos), f"PO1[{n}]/ACK02"),
        unit_of_measure=_text(ack, 3) or _text(po1, 3),
        unit_price=_money(po1, 4, f"PO1[{n}]/PO104"),
        item_identifiers=ids,
        scheduled_date=scheduled
        or (parse_date(sch.element(6), f"PO1[{n}]/SCH06") if sch else None),
    )


def _line_status(
    src: X12Source, code: str | None, accepted: bool | None, loc: str
) -> OrderAckLineStatus:
    if code is None:
        if accepted is False:
            return OrderAckLineStatus.REJECTED
        return OrderAckLineStatus.ACCEPTED
    target = src.lookup("x12_ack_line_status", code)
    if target is None:
        raise MappingError("line item status code not known", code="code-invalid", location=loc)
    return OrderAckLineStatus(target)


# --------------------------------------------------------------------------- 856


def map_856(src: X12Source) -> list[Event]:
    """BSN02 shipment id, DTM*011 shipped date (else BSN03/04); at every HL level: TD5
    carrier (TD503 SCAC, else TD505 routing), REF*CN / REF*2I tracking, PRF01 PO numbers,
    N1 SF/SH ship-from and ST ship-to; items at ``HL*…*I``: LIN ids (LT: lot), SN1
    quantity and unit, REF*LT lot, DTM*036 expiry."""
    body = _body(src)
    bsn = _first(body, "BSN")
    if bsn is None:
        raise MappingError("856 has no BSN segment", code="required", location="BSN")
    shipment = _required(_text(bsn, 2), "BSN02")
    items, po_numbers = _items(src, body)
    notice = ShipNotice(
        identifiers=[src.identifier(shipment, SHIPMENT_ID_SYSTEM)],
        shipment_id=shipment,
        po_numbers=po_numbers,
        shipped_at=_shipped_at(body, bsn),
        carrier=_carrier(body),
        tracking_numbers=[
            s.element(2).strip()
            for s in body
            if s.id == "REF" and s.element(1) in ("CN", "2I") and s.element(2).strip()
        ],
        ship_from=_parties(src, body, _SHIP_FROM),
        ship_to=_parties(src, body, _SHIP_TO),
        items=items,
    )
    when = (
        notice.shipped_at
        if isinstance(notice.shipped_at, datetime)
        else _as_datetime(notice.shipped_at)
    )
    src.stamp(notice, when)
    return [src.event(EventKind.SUPPLY_ORDER_SHIPPED, notice, when)]


def _shipped_at(body: list[Segment], bsn: Segment) -> datetime | date | None:
    dtm = _first(body, "DTM", "011")
    if dtm is not None:
        day = parse_date(dtm.element(2), "DTM02")
        return (
            parse_datetime(dtm.element(2), dtm.element(3), "DTM03")
            if dtm.element(3).strip()
            else day
        )
    if bsn.element(4).strip():
        return parse_datetime(bsn.element(3), bsn.element(4), "BSN03")
    return parse_date(bsn.element(3), "BSN03")


def _carrier(body: list[Segment]) -> str | None:
    td5 = _first(body, "TD5")
    return (_text(td5, 3) or _text(td5, 5)) if td5 is not None else None


def _items(src: X12Source, body: list[Segment]) -> tuple[list[ShippedItem], list[str]]:
    """Walk the HL levels in order: an O level's PRF names the order of the items below."""
    items: list[ShippedItem] = []
    po_numbers: list[str] = []
    current_po: str | None = None
    level: list[Segment] | None = None
    for seg in [*body, None]:
        if seg is None or seg.id == "HL":
            if level is not None:
                items.append(_item(src, level, current_po, len(items) + 1))
            level = [seg] if seg is not None and seg.element(3) == "I" else None
            continue
        if seg.id == "PRF" and seg.element(1).strip():
            current_po = seg.element(1).strip()
            if current_po not in po_numbers:
                po_numbers.append(current_po)
        if level is not None:
            level.append(seg)
    return items, po_numbers


def _item(src: X12Source, level: list[Segment], po: str | None, n: int) -> ShippedItem:
    lin, sn1 = _first(level, "LIN"), _first(level, "SN1")
    ids, _ = product_ids(src, lin, 2, 32) if lin is not None else ([], None)
    lot = next((i.value for i in ids if i.type == "LT"), None)
    ids = [i for i in ids if i.type != "LT"]
    if sn1 is None:
        raise MappingError(
            "item level without SN1 quantity", code="required", location=f"HL[I{n}]/SN102"
        )
    lot_ref = _first(level, "REF", "LT")
    return ShippedItem(
        line_number=_text(lin, 1) or _text(sn1, 1),
        item_identifiers=ids,
        quantity=_quantity(sn1, 2, f"HL[I{n}]/SN102"),
        unit_of_measure=_text(sn1, 3),
        lot=lot or _text(lot_ref, 2),
        expires=_dtm(level, "036", f"HL[I{n}]/DTM02"),
        po_number=po,
    )


# --------------------------------------------------------------------------- 810


def map_810(src: X12Source) -> list[Event]:
    """BIG01 invoice date, BIG02 invoice number, BIG04 PO number; N1 vendor (VN/SE/SU/RI)
    and bill-to (BT, else BY); IT1 lines; TDS01 total (N2: two implied decimals); ITD
    terms."""
    head, lines = _split(_body(src), _LINE_TRIGGERS)
    big = _first(head, "BIG")
    if big is None:
        raise MappingError("810 has no BIG segment", code="required", location="BIG")
    number = _required(_text(big, 2), "BIG02")
    summary = lines[-1] if lines else head
    tds = _first(summary, "TDS")
    invoice = Invoice(
        identifiers=[src.identifier(number, INVOICE_ID_SYSTEM)],
        invoice_number=number,
        invoice_date=parse_date(big.element(1), "BIG01"),
        po_number=_text(big, 4),
        vendor=_parties(src, head, _VENDORS),
        bill_to=_parties(src, head, _BILL_TO) or _parties(src, head, _BUYERS),
        lines=[_invoice_line(src, line, n) for n, line in enumerate(lines, 1)],
        total=_tds_total(tds),
        terms=_terms(_first(head, "ITD")),
    )
    when = _as_datetime(invoice.invoice_date)
    src.stamp(invoice, when)
    return [src.event(EventKind.SUPPLY_ORDER_INVOICED, invoice, when)]


def _invoice_line(src: X12Source, segments: list[Segment], n: int) -> InvoiceLine:
    """IT101 line number, IT102 quantity invoiced, IT103 unit, IT104 unit price, IT106…
    ids; PID description."""
    it1 = segments[0]
    ids, described = product_ids(src, it1, 6, 26)
    return InvoiceLine(
        line_number=_text(it1, 1),
        item_identifiers=ids,
        description=_description(segments) or described,
        quantity=_quantity(it1, 2, f"IT1[{n}]/IT102"),
        unit_of_measure=_text(it1, 3),
        unit_price=_money(it1, 4, f"IT1[{n}]/IT104"),
    )


def _tds_total(tds: Segment | None) -> Money | None:
    value = parse_implied(tds.element(1), 2, "TDS01") if tds is not None else None
    return Money(amount=value) if value is not None else None


def _terms(itd: Segment | None) -> str | None:
    """ITD12 description, else ``<ITD03>% <ITD05> net <ITD07>`` (discount percent and days,
    net days) as the trade writes terms."""
    if itd is None:
        return None
    if itd.element(12).strip():
        return itd.element(12).strip()
    parts = []
    if itd.element(3).strip() and itd.element(5).strip():
        parts.append(f"{itd.element(3).strip()}% {itd.element(5).strip()}")
    if itd.element(7).strip():
        parts.append(f"net {itd.element(7).strip()}")
    return " ".join(parts) or None
