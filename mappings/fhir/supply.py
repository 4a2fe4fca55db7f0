"""FHIR SupplyRequest ↔ canonical PurchaseOrder (X12 850), SupplyDelivery ↔ ShipNotice (856).

R4 SupplyRequest and SupplyDelivery carry **one** item each. A one-line order (a one-item
notice) maps to one resource; ``to_fhir`` refuses more lines with a MappingError that says so,
and ``supply_requests_to_fhir`` / ``supply_deliveries_to_fhir`` write one resource per line,
each with the order's identifier (the PO number) and the line number as a second identifier.

SupplyRequest: ``identifier[0].value`` ↔ ``po_number`` (BEG03, required), ``status``,
``authoredOn`` ↔ ``order_date``, ``occurrenceDateTime`` ↔ ``requested_delivery``,
``requester`` ↔ ``buyer``, ``supplier[0]`` ↔ ``vendor``, ``deliverTo`` ↔ ``ship_to``, the item:
``itemCodeableConcept`` ↔ line ``item_identifiers`` (code = part number, system = its
namespace) + ``description`` (display), ``quantity`` ↔ ``quantity``/``unit_of_measure``.

SupplyDelivery: ``identifier[0].value`` ↔ ``shipment_id`` (BSN02, required), ``basedOn``
identifiers ↔ ``po_numbers``, ``occurrenceDateTime`` ↔ ``shipped_at``, ``supplier`` ↔
``ship_from``, ``destination`` ↔ ``ship_to``, ``suppliedItem`` ↔ ``items[0]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from hub.canonical import (
    EntityType,
    EventKind,
    Identifier,
    OrderLine,
    PurchaseOrder,
    ShipNotice,
    ShippedItem,
)
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import coding, identifier, leaf, quantity, reference
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    compact,
    date_from,
    date_to,
    datetime_to,
    decimal_from,
    decimal_to,
    get_list,
    get_obj,
    get_str,
    when_from,
)
from mappings.fhir.references import (
    identifier_from,
    identifier_to,
    identifiers_from,
    identifiers_to,
    party_from,
    party_to,
    resource_id_from,
    resource_id_to,
)

__all__ = [
    "MAPPINGS",
    "ship_notice_from_fhir",
    "ship_notice_to_fhir",
    "supply_deliveries_to_fhir",
    "supply_request_from_fhir",
    "supply_request_to_fhir",
    "supply_requests_to_fhir",
]

LINE_NAMESPACE = "PO1"
_PARTY = (EntityType.ORGANIZATION, EntityType.LOCATION, EntityType.PRACTITIONER, EntityType.PATIENT)
_SHIP_TO = (EntityType.LOCATION, EntityType.ORGANIZATION, EntityType.PATIENT)
_ORG = (EntityType.ORGANIZATION,)


# --------------------------------------------------------------------------- shared parts


def _number(resource: Json, kind: str, ctx: FhirMapContext) -> tuple[str, list[Identifier]]:
    """``identifier[0].value``: the business number an 850/856 cannot do without."""
    identifiers = identifiers_from(
        get_list(resource, "identifier", f"{kind}.identifier"), f"{kind}.identifier", ctx
    )
    if not identifiers:
        raise MappingError("an order or shipment needs its number", location=f"{kind}.identifier")
    return identifiers[0].value, identifiers


def _item_from(
    concept: Json | None, path: str, ctx: FhirMapContext
) -> tuple[list[Identifier], str | None]:
    """itemCodeableConcept → (part number identifiers, description)."""
    codings = get_list(concept or {}, "coding", f"{path}.coding")
    ids: list[Identifier] = []
    description = None
    for i, obj in enumerate(codings[:1]):
        code = get_str(obj, "code", f"{path}.coding[{i}].code")
        system = get_str(obj, "system", f"{path}.coding[{i}].system")
        description = get_str(obj, "display", f"{path}.coding[{i}].display")
        if code:
            ids.append(
                Identifier(
                    value=code, system=ctx.namespace(system) if system else None, source=ctx.source
                )
            )
    text = get_str(concept or {}, "text", f"{path}.text") if not codings else None
    return ids, description or text


def _item_to(
    ids: Sequence[Identifier], description: str | None, ctx: FhirMapContext
) -> Json | None:
    if not ids:
        return {"text": description} if description else None
    part = ids[0]
    return {
        "coding": [
            compact(
                {
                    "system": ctx.system_uri(part.system) if part.system else None,
                    "code": part.value,
                    "display": description,
                }
            )
        ]
    }


def _quantity_from(obj: Json | None, path: str) -> tuple[Decimal | None, str | None]:
    if not obj:
        return None, None
    unit = get_str(obj, "unit", f"{path}.unit") or get_str(obj, "code", f"{path}.code")
    return decimal_from(obj.get("value"), f"{path}.value"), unit


def _quantity_to(amount: Decimal, unit: str | None) -> Json:
    return compact({"value": decimal_to(amount), "unit": unit})


def _one(items: Sequence[object], where: str, plural: str) -> None:
    if len(items) > 1:
        raise MappingError(
            f"R4 carries one item per resource; write each with {plural}()", location=where
        )


# --------------------------------------------------------------------------- SupplyRequest


def supply_request_from_fhir(resource: Json, ctx: FhirMapContext) -> PurchaseOrder:
    """FHIR SupplyRequest → canonical PurchaseOrder with one line."""
    kind = "SupplyRequest"
    resource = expect_resource(resource, kind)
    entity_id, kept = resource_id_from(resource, EntityType.PURCHASE_ORDER, ctx)
    po_number, identifiers = _number(resource, kind, ctx)
    ids, description = _item_from(
        get_obj(resource, "itemCodeableConcept", kind), f"{kind}.itemCodeableConcept", ctx
    )
    amount, unit = _quantity_from(
        get_obj(resource, "quantity", f"{kind}.quantity"), f"{kind}.quantity"
    )
    if amount is None:
        raise MappingError("an order line needs a quantity", location=f"{kind}.quantity.value")
    suppliers = get_list(resource, "supplier", f"{kind}.supplier")
    return build(
        PurchaseOrder,
        ctx,
        kind,
        id=entity_id,
        identifiers=[*identifiers, *kept],
        po_number=po_number,
        status=get_str(resource, "status", f"{kind}.status"),
        order_date=date_from(_day(resource.get("authoredOn")), f"{kind}.authoredOn"),
        requested_delivery=date_from(
            _day(resource.get("occurrenceDateTime")), f"{kind}.occurrenceDateTime"
        ),
        buyer=party_from(
            get_obj(resource, "requester", f"{kind}.requester"), f"{kind}.requester", ctx, _PARTY
        ),
        vendor=party_from(suppliers[0], f"{kind}.supplier[0]", ctx, _ORG) if suppliers else None,
        ship_to=party_from(
            get_obj(resource, "deliverTo", f"{kind}.deliverTo"), f"{kind}.deliverTo", ctx, _SHIP_TO
        ),
        lines=[
            OrderLine(
                line_number="1",
                item_identifiers=ids,
                description=description,
                quantity=amount,
                unit_of_measure=unit,
            )
        ],
    )


def _day(value: object) -> object:
    """A dateTime's date part: the 850 dates (BEG05, DTM) are dates."""
    return value[:10] if isinstance(value, str) and len(value) > 10 else value


def _request(
    order: PurchaseOrder, line: OrderLine, ctx: FhirMapContext, extra: list[Identifier]
) -> Json:
    vendor = party_to(order.vendor, EntityType.ORGANIZATION, ctx)
    item = _item_to(line.item_identifiers, line.description, ctx)
    numbers = identifiers_to(order.identifiers, ctx)
    if all(i.value != order.po_number for i in order.identifiers):
        numbers.insert(0, identifier_to(Identifier(system="BEG03", value=order.po_number), ctx))
    return compact(
        {
            "resourceType": "SupplyRequest",
            "id": resource_id_to(order.id, order.identifiers, EntityType.PURCHASE_ORDER, ctx)
            if not extra
            else None,
            "identifier": [*numbers, *(identifier_to(i, ctx) for i in extra)],
            "status": order.status,
            "itemCodeableConcept": _required_item(item),
            "quantity": _quantity_to(line.quantity, line.unit_of_measure),
            "occurrenceDateTime": date_to(order.requested_delivery),
            "authoredOn": date_to(order.order_date),
            "requester": party_to(order.buyer, EntityType.ORGANIZATION, ctx),
            "supplier": [vendor] if vendor else None,
            "deliverTo": party_to(order.ship_to, EntityType.LOCATION, ctx),
        }
    )


def _required_item(item: Json | None) -> Json:
    if item is None:
        raise MappingError("the line names no item", location="SupplyRequest.item[x]")
    return item


def supply_request_to_fhir(order: PurchaseOrder, ctx: FhirMapContext) -> Json:
    """Canonical PurchaseOrder with one line → FHIR SupplyRequest."""
    _one(order.lines, "SupplyRequest.item[x]", "supply_requests_to_fhir")
    if not order.lines:
        raise MappingError("the order has no line", location="SupplyRequest.item[x]")
    return _request(order, order.lines[0], ctx, [])


def supply_requests_to_fhir(order: PurchaseOrder, ctx: FhirMapContext) -> list[Json]:
    """One SupplyRequest per order line (no id of their own; PO number + line number)."""
    return [
        _request(
            order, line, ctx, [Identifier(system=LINE_NAMESPACE, value=f"{order.po_number}:{n}")]
        )
        for n, line in enumerate(order.lines, start=1)
    ]


# --------------------------------------------------------------------------- SupplyDelivery


def _po_numbers(resource: Json, ctx: FhirMapContext) -> list[str]:
    numbers: list[str] = []
    for i, ref in enumerate(get_list(resource, "basedOn", "SupplyDelivery.basedOn")):
        business = get_obj(ref, "identifier", f"SupplyDelivery.basedOn[{i}].identifier")
        found = (
            identifier_from(business, f"SupplyDelivery.basedOn[{i}].identifier", ctx)
            if business
            else None
        )
        numbers += [found.value] if found else []
    return numbers


def _shipped(resource: Json, ctx: FhirMapContext) -> list[ShippedItem]:
    supplied = get_obj(resource, "suppliedItem", "SupplyDelivery.suppliedItem")
    if not supplied:
        return []
    path = "SupplyDelivery.suppliedItem"
    ids, _ = _item_from(
        get_obj(supplied, "itemCodeableConcept", path), f"{path}.itemCodeableConcept", ctx
    )
    amount, unit = _quantity_from(
        get_obj(supplied, "quantity", f"{path}.quantity"), f"{path}.quantity"
    )
    if amount is None:
        raise MappingError("a shipped item needs a quantity", location=f"{path}.quantity.value")
    return [
        ShippedItem(line_number="1", item_identifiers=ids, quantity=amount, unit_of_measure=unit)
    ]


def ship_notice_from_fhir(resource: Json, ctx: FhirMapContext) -> ShipNotice:
    """FHIR SupplyDelivery → canonical ShipNotice."""
    kind = "SupplyDelivery"
    resource = expect_resource(resource, kind)
    entity_id, kept = resource_id_from(resource, EntityType.SHIP_NOTICE, ctx)
    shipment_id, identifiers = _number(resource, kind, ctx)
    return build(
        ShipNotice,
        ctx,
        kind,
        id=entity_id,
        identifiers=[*identifiers, *kept],
        shipment_id=shipment_id,
        po_numbers=_po_numbers(resource, ctx),
        shipped_at=when_from(resource.get("occurrenceDateTime"), f"{kind}.occurrenceDateTime"),
        ship_from=party_from(
            get_obj(resource, "supplier", f"{kind}.supplier"), f"{kind}.supplier", ctx, _ORG
        ),
        ship_to=party_from(
            get_obj(resource, "destination", f"{kind}.destination"),
            f"{kind}.destination",
            ctx,
            _SHIP_TO,
        ),
        items=_shipped(resource, ctx),
    )


def _delivery(
    notice: ShipNotice, item: ShippedItem | None, ctx: FhirMapContext, extra: list[Identifier]
) -> Json:
    numbers = identifiers_to(notice.identifiers, ctx)
    if all(i.value != notice.shipment_id for i in notice.identifiers):
        numbers.insert(0, identifier_to(Identifier(system="BSN02", value=notice.shipment_id), ctx))
    supplied = (
        compact(
            {
                "quantity": _quantity_to(item.quantity, item.unit_of_measure),
                "itemCodeableConcept": _item_to(item.item_identifiers, None, ctx),
            }
        )
        if item
        else None
    )
    based_on = [
        {
            "type": "SupplyRequest",
            "identifier": identifier_to(Identifier(system="BEG03", value=n), ctx),
        }
        for n in notice.po_numbers
    ]
    return compact(
        {
            "resourceType": "SupplyDelivery",
            "id": resource_id_to(notice.id, notice.identifiers, EntityType.SHIP_NOTICE, ctx)
            if not extra
            else None,
            "identifier": [*numbers, *(identifier_to(i, ctx) for i in extra)],
            "basedOn": based_on,
            "suppliedItem": supplied,
            "occurrenceDateTime": datetime_to(notice.shipped_at, ctx),
            "supplier": party_to(notice.ship_from, EntityType.ORGANIZATION, ctx),
            "destination": party_to(notice.ship_to, EntityType.LOCATION, ctx),
        }
    )


def ship_notice_to_fhir(notice: ShipNotice, ctx: FhirMapContext) -> Json:
    """Canonical ShipNotice with at most one item → FHIR SupplyDelivery."""
    _one(notice.items, "SupplyDelivery.suppliedItem", "supply_deliveries_to_fhir")
    return _delivery(notice, notice.items[0] if notice.items else None, ctx, [])


def supply_deliveries_to_fhir(notice: ShipNotice, ctx: FhirMapContext) -> list[Json]:
    """One SupplyDelivery per shipped item (shipment id + line number)."""
    return [
        _delivery(
            notice,
            item,
            ctx,
            [Identifier(system=LINE_NAMESPACE, value=f"{notice.shipment_id}:{n}")],
        )
        for n, item in enumerate(notice.items, start=1)
    ]


# --------------------------------------------------------------------------- registry entries


def _placed(order: PurchaseOrder, previous: PurchaseOrder | None) -> EventKind:
    return EventKind.SUPPLY_ORDER_PLACED


def _shipped_event(notice: ShipNotice, previous: ShipNotice | None) -> EventKind:
    return EventKind.SUPPLY_ORDER_SHIPPED


_PARTY_NAMES = ("Organization", "Location", "Practitioner", "Patient")
_SUPPLIED = "SupplyDelivery.suppliedItem"

MAPPINGS = (
    ResourceMapping(
        resource_type="SupplyRequest",
        entity_types=(EntityType.PURCHASE_ORDER,),
        to_fhir=supply_request_to_fhir,
        from_fhir=supply_request_from_fhir,
        event_kind=_placed,
        carried=(
            *leaf("SupplyRequest.id"),
            *identifier("SupplyRequest.identifier"),
            *leaf("SupplyRequest.status"),
            *coding("SupplyRequest.itemCodeableConcept.coding.first()"),
            *leaf("SupplyRequest.itemCodeableConcept.where(coding.empty()).text"),
            *quantity("SupplyRequest.quantity"),
            *leaf("SupplyRequest.occurrenceDateTime", "date"),
            *leaf("SupplyRequest.authoredOn", "date"),
            *reference("SupplyRequest.requester", _PARTY_NAMES),
            *reference("SupplyRequest.supplier.first()", ("Organization",)),
            *reference("SupplyRequest.deliverTo", ("Location", "Organization", "Patient")),
        ),
        notes=(
            "One line per SupplyRequest (R4); multi-line orders: supply_requests_to_fhir().",
            "authoredOn and occurrenceDateTime are kept as dates (850 dates); "
            "occurrencePeriod/Timing, itemReference, category, priority, parameter, reason "
            "and deliverFrom are dropped.",
            "identifier is required on reading (the PO number, BEG03).",
        ),
    ),
    ResourceMapping(
        resource_type="SupplyDelivery",
        entity_types=(EntityType.SHIP_NOTICE,),
        to_fhir=ship_notice_to_fhir,
        from_fhir=ship_notice_from_fhir,
        event_kind=_shipped_event,
        carried=(
            *leaf("SupplyDelivery.id"),
            *identifier("SupplyDelivery.identifier"),
            *leaf("SupplyDelivery.basedOn.identifier.value"),
            *leaf(f"{_SUPPLIED}.itemCodeableConcept.coding.first().system"),
            *leaf(f"{_SUPPLIED}.itemCodeableConcept.coding.first().code"),
            *quantity(f"{_SUPPLIED}.quantity"),
            *leaf("SupplyDelivery.occurrenceDateTime", "datetime"),
            *reference("SupplyDelivery.supplier", ("Organization",)),
            *reference("SupplyDelivery.destination", ("Location", "Organization", "Patient")),
        ),
        notes=(
            "One item per SupplyDelivery (R4); multi-item notices: supply_deliveries_to_fhir().",
            "basedOn is kept only as PO numbers (its identifiers); literal basedOn references, "
            "status, type, patient, partOf, receiver and the item's display are dropped.",
            "identifier is required on reading (the shipment id, BSN02).",
        ),
    ),
)
