"""What the HL7 v2 mappings cover, for ``carehub mappings coverage --hl7v2``: derived from
the registries the hub runs on (``mappings.hl7v2.INBOUND`` and ``OUTBOUND``, the FHIR
``DEFAULT_RESOURCE``), never from a hand list, so a mapping added to a registry appears
here and one taken out disappears.

Per message type and trigger (``ADT^A04``): mapped or not (a type or trigger not in
``INBOUND`` is refused by the ports, AR with ERR-3 200 or 201), its message structure, the
canonical events its mapping declares (``mappings.hl7v2.source.declare_emits``), the FHIR
resource each event's record is written as, and whether an HL7 v2 destination gets the
event back as HL7 v2 (and by which renderer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hub.canonical import EntityType, EventKind
from mappings.fhir import DEFAULT_RESOURCE
from mappings.hl7v2 import INBOUND, OUTBOUND, STRUCTURES, Mapper, Renderer
from mappings.hl7v2.source import emits_of

__all__ = ["entity_of_kind", "hl7v2_coverage"]


def _norm(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def entity_of_kind(kind: EventKind) -> EntityType | None:
    """The entity an event kind is about, by its name: ``patient.registered`` → Patient,
    ``claim_status.removed`` → ClaimStatus; ``None`` when no entity type has that name."""
    subject = _norm(kind.value.rsplit(".", 1)[0])
    return next((t for t in EntityType if _norm(t.value) == subject), None)


def hl7v2_coverage(
    inbound: Mapping[str, Mapper] | None = None,
    outbound: Mapping[EventKind, Renderer] | None = None,
    structures: Mapping[str, str] | None = None,
    resources: Mapping[EntityType, str] | None = None,
) -> dict[str, Any]:
    """``{"inbound": {key: entry}, "outbound": {kind: entry}, "refused": {...}}``, from the
    given registries or (``None``) the hub's own, looked up at each call."""
    inbound = INBOUND if inbound is None else inbound
    outbound = OUTBOUND if outbound is None else outbound
    structures = STRUCTURES if structures is None else structures
    resources = DEFAULT_RESOURCE if resources is None else resources

    def fhir_of(kind: EventKind) -> str | None:
        entity = entity_of_kind(kind)
        return resources.get(entity) if entity is not None else None

    def renderer_of(kind: EventKind) -> str | None:
        renderer = outbound.get(kind)
        return getattr(renderer, "__name__", "renderer") if renderer is not None else None

    keys = sorted(inbound, key=lambda k: (k.split("^")[0], k))
    entries: dict[str, Any] = {}
    for key in keys:
        mapper = inbound[key]
        kinds = emits_of(mapper)
        entries[key] = {
            "mapped": True,
            "structure": structures.get(key),
            "mapping": getattr(mapper, "__name__", None),
            "events": [k.value for k in kinds] if kinds is not None else None,
            "fhir": {k.value: fhir_of(k) for k in kinds or ()},
            "hl7v2_out": {k.value: renderer_of(k) for k in kinds or ()},
        }
    produced_by: dict[EventKind, list[str]] = {}
    for key in keys:
        for kind in emits_of(inbound[key]) or ():
            produced_by.setdefault(kind, []).append(key)
    rendered = {
        kind.value: {
            "renderer": renderer_of(kind),
            "from_hl7v2": produced_by.get(kind, []),
        }
        for kind, renderer in sorted(outbound.items(), key=lambda kv: kv[0].value)
    }
    codes = sorted({key.split("^")[0] for key in keys})
    refused = {
        **{
            f"{code}^*": f"any other {code} trigger: refused (AR, ERR-3 201 unsupported event)"
            for code in codes
        },
        "*": "any other message type: refused (AR, ERR-3 200 unsupported message type)",
    }
    return {"inbound": entries, "outbound": rendered, "refused": refused}
