"""Identifiers, resource ids and references: canonical ``Identifier``/``Ref``/``ClaimParty`` ↔
FHIR ``Identifier``/``Reference``.

Identifier (V2-to-FHIR CX → Identifier): ``system`` ↔ ``Identifier.system`` through
``FhirMapContext.system_uri``/``namespace``; ``value`` ↔ ``value``; ``type`` (HL7 table 0203 code)
↔ ``type.coding`` with system ``http://terminology.hl7.org/CodeSystem/v2-0203``; ``assigner`` ↔
``assigner.display``; ``period`` ↔ ``period``. ``source`` is the partner the identifier came
from (``FhirMapContext.source``) and is not written to FHIR.

Reference, in order of preference when writing:

1. the canonical id is known and the target knows it (``FhirMapContext.fhir_id``) → ``Type/<id>``;
2. a partner FHIR id kept as identifier (system ``urn:carehub:fhir-id:<source>``) → ``Type/<id>``;
3. a URI kept as identifier (system ``urn:ietf:rfc:3986``: ``urn:uuid:…`` inside a transaction
   Bundle, or an absolute URL to another server) → that URI;
4. any other identifier → a logical reference ``{type, identifier}``;
5. else only ``display``.

Reading does the inverse. References to contained resources (``#id``) and to resource types
the canonical model has no entity for are dropped (``None``). A conditional reference
(``Organization?identifier=system|value``, FHIR http.html#trules) is read as a reference by
that identifier, which the sync engine resolves as any other; other search parameters in a
conditional reference are refused (MappingError).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

from hub.canonical import ClaimParty, EntityType, Identifier, Ref
from hub.errors import MappingError
from mappings.fhir.context import URI_SYSTEM, FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    compact,
    get_list,
    get_obj,
    get_str,
    period_from,
    period_to,
)

__all__ = [
    "V2_0203",
    "identifier_from",
    "identifier_to",
    "identifiers_from",
    "identifiers_to",
    "party_from",
    "party_to",
    "ref_from",
    "ref_to",
    "refs_from",
    "resource_id_from",
    "resource_id_to",
]

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_ENTITY_TYPES = {t.value: t for t in EntityType}
_CONDITIONAL = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)\?(?P<query>\S+)$")
_LITERAL = re.compile(
    r"^(?:(?P<base>https?://\S+?)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)


# --------------------------------------------------------------------------- identifiers


def _type_code(obj: Json, path: str) -> str | None:
    concept = get_obj(obj, "type", f"{path}.type") or {}
    for i, coding in enumerate(get_list(concept, "coding", f"{path}.type.coding")):
        if coding.get("system") == V2_0203:
            return get_str(coding, "code", f"{path}.type.coding[{i}].code")
    return None


def identifier_from(obj: Json, path: str, ctx: FhirMapContext) -> Identifier | None:
    """FHIR Identifier → canonical; one without a value is dropped."""
    value = get_str(obj, "value", f"{path}.value")
    if value is None:
        return None
    system = get_str(obj, "system", f"{path}.system")
    assigner = get_obj(obj, "assigner", f"{path}.assigner") or {}
    return Identifier(
        value=value,
        system=ctx.namespace(system) if system else None,
        type=_type_code(obj, path),
        source=ctx.source,
        assigner=get_str(assigner, "display", f"{path}.assigner.display"),
        period=period_from(get_obj(obj, "period", f"{path}.period"), f"{path}.period"),
    )


def identifier_to(identifier: Identifier, ctx: FhirMapContext) -> Json:
    kind = {"coding": [{"system": V2_0203, "code": identifier.type}]} if identifier.type else None
    return compact(
        {
            "type": kind,
            "system": ctx.system_uri(identifier.system) if identifier.system else None,
            "value": identifier.value,
            "period": period_to(identifier.period, ctx),
            "assigner": {"display": identifier.assigner} if identifier.assigner else None,
        }
    )


def identifiers_from(items: list[Json], path: str, ctx: FhirMapContext) -> list[Identifier]:
    found = (identifier_from(item, f"{path}[{i}]", ctx) for i, item in enumerate(items))
    return [i for i in found if i is not None]


def _internal(identifier: Identifier, ctx: FhirMapContext) -> bool:
    return identifier.system in (ctx.fhir_id_system, URI_SYSTEM)


def identifiers_to(identifiers: Iterable[Identifier], ctx: FhirMapContext) -> list[Json]:
    """Business identifiers only: the hub's own bookkeeping identifiers are not written."""
    return [identifier_to(i, ctx) for i in identifiers if not _internal(i, ctx)]


# --------------------------------------------------------------------------- resource ids


def resource_id_from(
    resource: Json, kind: EntityType, ctx: FhirMapContext
) -> tuple[str | None, list[Identifier]]:
    """``Resource.id`` → (canonical id, extra identifiers keeping the partner's FHIR id)."""
    fhir_id = get_str(resource, "id", f"{resource.get('resourceType')}.id")
    if fhir_id is None:
        return None, []
    canonical = ctx.canonical_id(kind, fhir_id)
    if canonical is not None:
        return canonical, []
    return None, [Identifier(system=ctx.fhir_id_system, value=fhir_id, source=ctx.source)]


def resource_id_to(
    entity_id: str | None, identifiers: Sequence[Identifier], kind: EntityType, ctx: FhirMapContext
) -> str | None:
    if entity_id is not None and (known := ctx.fhir_id(kind, entity_id)):
        return known
    for identifier in identifiers:
        if identifier.system == ctx.fhir_id_system:
            return identifier.value
    return None


# --------------------------------------------------------------------------- references


def _literal_ref(
    literal: str, allowed: Sequence[EntityType], path: str, ctx: FhirMapContext
) -> Ref | None:
    if literal.startswith("#"):
        return None  # contained resources are dropped, and so are references to them
    conditional = _CONDITIONAL.match(literal)
    if conditional is not None:
        return _conditional_ref(conditional["type"], conditional["query"], allowed, path, ctx)
    match = _LITERAL.match(literal)
    if match is None:
        if re.match(r"^(urn:uuid:|urn:oid:|https?://)", literal):
            # a bundle-local or foreign-server URI: kept verbatim, target type assumed
            return Ref(type=allowed[0], identifiers=[Identifier(system=URI_SYSTEM, value=literal)])
        raise MappingError(
            "unreadable reference (not Type/id, a URL or a urn)", location=f"{path}.reference"
        )
    kind = _ENTITY_TYPES.get(match["type"])
    if kind is None or kind not in allowed:
        return None
    if match["base"]:
        return Ref(type=kind, identifiers=[Identifier(system=URI_SYSTEM, value=literal)])
    canonical = ctx.canonical_id(kind, match["id"])
    if canonical is not None:
        return Ref(type=kind, id=canonical)
    return Ref(
        type=kind,
        identifiers=[Identifier(system=ctx.fhir_id_system, value=match["id"], source=ctx.source)],
    )


def _conditional_ref(
    rtype: str, query: str, allowed: Sequence[EntityType], path: str, ctx: FhirMapContext
) -> Ref | None:
    """``Type?identifier=system|value``: a reference by that identifier."""
    kind = _ENTITY_TYPES.get(rtype)
    if kind is None or kind not in allowed:
        return None
    name, _, token = unquote(query).partition("=")
    system, bar, value = token.rpartition("|")
    if name != "identifier" or not value or "&" in token:
        raise MappingError(
            "a conditional reference is read by one identifier only (Type?identifier=system|value)",
            location=f"{path}.reference",
        )
    namespace = ctx.namespace(system) if bar and system else None
    return Ref(
        type=kind, identifiers=[Identifier(system=namespace, value=value, source=ctx.source)]
    )


def _declared_type(obj: Json, allowed: Sequence[EntityType]) -> EntityType:
    declared = _ENTITY_TYPES.get(obj.get("type") or "")
    return declared if declared is not None and declared in allowed else allowed[0]


def ref_from(
    obj: Json | None, path: str, ctx: FhirMapContext, allowed: Sequence[EntityType]
) -> Ref | None:
    """FHIR Reference → Ref. ``allowed`` are the canonical target types the element admits;
    the first is assumed when the reference does not say (``urn:uuid:…``, display only)."""
    if not obj:
        return None
    literal = get_str(obj, "reference", f"{path}.reference")
    display = get_str(obj, "display", f"{path}.display")
    business = get_obj(obj, "identifier", f"{path}.identifier")
    found = identifier_from(business, f"{path}.identifier", ctx) if business else None
    if literal is not None:
        ref = _literal_ref(literal, allowed, path, ctx)
        if ref is None:
            return None
    elif found is None and display is None:
        return None
    else:
        ref = Ref(type=_declared_type(obj, allowed))
    extra = [found] if found else []
    return ref.model_copy(update={"identifiers": [*ref.identifiers, *extra], "display": display})


def refs_from(
    items: list[Json], path: str, ctx: FhirMapContext, allowed: Sequence[EntityType]
) -> list[Ref]:
    found = (ref_from(item, f"{path}[{i}]", ctx, allowed) for i, item in enumerate(items))
    return [r for r in found if r is not None]


def _reference_text(ref: Ref, ctx: FhirMapContext) -> str | None:
    if ref.id is not None and (known := ctx.fhir_id(ref.type, ref.id)):
        return f"{ref.type.value}/{known}"
    for identifier in ref.identifiers:
        if identifier.system == ctx.fhir_id_system:
            return f"{ref.type.value}/{identifier.value}"
    for identifier in ref.identifiers:
        if identifier.system == URI_SYSTEM:
            return identifier.value
    return None


def ref_to(ref: Ref | None, ctx: FhirMapContext) -> Json | None:
    """Ref → FHIR Reference (see the module docstring for the order of preference)."""
    if ref is None:
        return None
    business = [i for i in ref.identifiers if not _internal(i, ctx)]
    literal = _reference_text(ref, ctx)
    return (
        compact(
            {
                "reference": literal,
                "type": ref.type.value if literal is None and business else None,
                "identifier": identifier_to(business[0], ctx) if business else None,
                "display": ref.display,
            }
        )
        or None
    )


# --------------------------------------------------------------------------- parties


def party_from(
    obj: Json | None, path: str, ctx: FhirMapContext, allowed: Sequence[EntityType]
) -> ClaimParty | None:
    """A Reference naming a party of a claim, order or delivery → ClaimParty(ref=…)."""
    ref = ref_from(obj, path, ctx, allowed)
    return ClaimParty(ref=ref) if ref is not None else None


def party_to(party: ClaimParty | None, kind: EntityType, ctx: FhirMapContext) -> Json | None:
    """ClaimParty → Reference: its ref when resolved, else a logical reference built from the
    party's first identifier and its name (X12-born parties have no ref)."""
    if party is None:
        return None
    if party.ref is not None:
        return ref_to(party.ref, ctx)
    display = party.organization_name or (party.name.text if party.name else None)
    if display is None and party.name is not None:
        display = " ".join([*party.name.given, party.name.family or ""]).strip() or None
    return ref_to(Ref(type=kind, identifiers=party.identifiers[:1], display=display), ctx)
