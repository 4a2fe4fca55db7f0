"""COVERAGE tables: which FHIR elements the canonical model carries, and which it drops.

A resource's *carried* elements are FHIRPath expressions (``mappings.fhir.fhirpath`` subset)
ending at primitive values, built from the datatype helpers below so the same datatype is
described the same way everywhere (``identifier("Patient.identifier")`` says: identifiers with
a value; their system, value, v2-0203 type code, assigner display and period).

Its *dropped* elements are computed, not written: every element of the fhir.resources R4B
model of the resource that no carried expression reads. Inside an element that is partly
carried, ``id``, ``extension`` and ``modifierExtension`` are always dropped and not listed.

``carried_values(resource, carried)`` evaluates the carried expressions over a resource and
normalises the values (instants compared as instants, decimals as numbers, partial dates left
out because no canonical date can hold them); round-trip tests compare it before and after
``to_fhir(from_fhir(x))``.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from fhir.resources.R4B import get_fhir_model_class

from mappings.fhir.fhirpath import compile_path, element_paths, evaluate
from mappings.fhir.references import V2_0203

__all__ = [
    "Carried",
    "address",
    "carried_values",
    "coded",
    "coding",
    "dropped_elements",
    "identifier",
    "leaf",
    "money",
    "name",
    "period",
    "quantity",
    "reference",
    "telecom",
]

Kind = Literal["string", "date", "datetime", "decimal", "boolean", "integer"]


@dataclass(frozen=True)
class Carried:
    """One carried primitive: a FHIRPath expression and how its values compare.

    ``compare=False`` marks an element the canonical model holds but normalises (for example
    ``Money.currency``, absent = USD), so a round trip may legitimately add it.
    """

    path: str
    kind: Kind = "string"
    compare: bool = True

    def __post_init__(self) -> None:
        compile_path(self.path)  # a typo in a table fails at import, not in a test run


Table = tuple[Carried, ...]


def leaf(path: str, kind: Kind = "string") -> Table:
    return (Carried(path, kind),)


def coding(base: str) -> Table:
    return tuple(Carried(f"{base}.{part}") for part in ("system", "code", "display"))


def coded(base: str) -> Table:
    """A CodeableConcept read into one ``Coded``: the first coding, or text without codings."""
    first = f"{base}.select(coding.first())"
    return (*coding(first), Carried(f"{base}.where(coding.empty()).text"))


def period(base: str) -> Table:
    return (Carried(f"{base}.start", "datetime"), Carried(f"{base}.end", "datetime"))


def identifier(base: str) -> Table:
    kept = f"{base}.where(value.exists())"
    return (
        Carried(f"{kept}.system"),
        Carried(f"{kept}.value"),
        Carried(f"{kept}.select(type.coding.where(system='{V2_0203}').first()).code"),
        Carried(f"{kept}.assigner.display"),
        *period(f"{kept}.period"),
    )


def reference(base: str, types: Sequence[str], *, filled: bool = False) -> Table:
    """A Reference whose target has a canonical entity (``types``), or is a urn/identifier/
    display that the element's first type is assumed for; ``#contained`` ones are dropped.

    ``filled``: the element is required, so a written resource may carry a display the hub
    made up from other data (a contained party's name, the payer's name): its display is then
    compared only next to a literal reference."""
    alternatives = "|".join(types)
    pattern = f"^(urn:uuid:|urn:oid:|https?://|({alternatives})/[^/]+(/_history/[^/]+)?$)"
    kept = f"{base}.where(reference.empty() or reference.matches('{pattern}'))"
    display = f"{base}.where(reference.exists()).display" if filled else f"{kept}.display"
    return (Carried(f"{kept}.reference"), Carried(display), *identifier(f"{kept}.identifier"))


def name(base: str) -> Table:
    return (
        *(Carried(f"{base}.{part}") for part in ("use", "text", "family", "given")),
        Carried(f"{base}.select(prefix.first())"),
        Carried(f"{base}.select(suffix.first())"),
    )


def address(base: str) -> Table:
    parts = ("use", "type", "line", "city", "district", "state", "postalCode", "country")
    return tuple(Carried(f"{base}.{part}") for part in parts)


def telecom(base: str) -> Table:
    kept = f"{base}.where(value.exists())"
    return tuple(Carried(f"{kept}.{part}") for part in ("system", "value", "use"))


def money(base: str) -> Table:
    return (Carried(f"{base}.value", "decimal"), Carried(f"{base}.currency", compare=False))


def quantity(base: str) -> Table:
    return (Carried(f"{base}.value", "decimal"), Carried(f"{base}.unit"))


# --------------------------------------------------------------------------- projection


def _instant(value: str) -> str | None:
    if "T" not in value:
        return value if len(value) == 10 else None  # partial dates are not carried
    parsed = datetime.fromisoformat(value)
    return (parsed.astimezone(UTC) if parsed.tzinfo else parsed).isoformat()


def _normalise(value: Any, kind: Kind) -> Any:
    if kind == "date" and isinstance(value, str) and "T" in value:
        return value[:10]  # a dateTime read into a canonical date keeps its day
    if kind in ("date", "datetime") and isinstance(value, str):
        return _instant(value)
    if kind == "decimal" and isinstance(value, (int, float, str)):
        return Decimal(str(value)).normalize()
    return value


def carried_values(resource: dict[str, Any], carried: Iterable[Carried]) -> dict[str, list[Any]]:
    """Carried expression → its normalised values in ``resource`` (compared ones only)."""
    out: dict[str, list[Any]] = {}
    for item in carried:
        if item.compare:
            values = (_normalise(v, item.kind) for v in evaluate(item.path, resource))
            out[item.path] = [v for v in values if v is not None]
    return out


# --------------------------------------------------------------------------- dropped


_NOISE = {"id", "extension", "modifierExtension"}


def _child_model(model: Any, element: str) -> Any:
    """The fhir.resources model class of a complex child element, or None for primitives."""
    fields = model.model_fields
    info = fields.get(element) or next(f for f in fields.values() if f.alias == element)
    annotation = info.annotation
    stack = [annotation]
    while stack:
        current = stack.pop()
        if hasattr(current, "get_model_klass"):
            return current.get_model_klass()
        stack.extend(typing.get_args(current))
    return None


def _visit(model: Any, path: str, read: set[str], top: bool) -> list[str]:
    dropped: list[str] = []
    for element in model.elements_sequence():
        here = f"{path}.{element}"
        if (not top and element in _NOISE) or here in read:
            continue
        partly = any(r.startswith(here + ".") for r in read)
        if partly and element == "extension":
            dropped.append(f"{here} (all but the carried extensions)")
        elif partly:
            child = _child_model(model, element)
            dropped += _visit(child, here, read, False) if child is not None else []
        else:
            dropped.append(here)
    return dropped


@lru_cache(maxsize=64)
def _dropped(resource_type: str, carried: Table) -> tuple[str, ...]:
    read = {p for item in carried for p in element_paths(item.path)}
    model = get_fhir_model_class(resource_type)
    return tuple(_visit(model, resource_type, read, True))


def dropped_elements(resource_type: str, carried: Table) -> list[str]:
    """Element paths of ``resource_type`` (R4B model) that no carried expression reads."""
    return list(_dropped(resource_type, carried))
