"""FHIR R4 general-purpose datatypes ↔ canonical datatypes.

Readers take the FHIR JSON value and the element path it sits at (``Patient.birthDate``), so
every ``MappingError`` names the element; messages never quote the value (it may be PHI, and
errors end up in logs and parked-message reasons). Writers return JSON-ready values
(``dict``, ``str``, ``float``) with empty parts left out, as FHIR requires (no empty strings,
lists or objects).

Precision rules (also in docs/fhir-mappings.md):

* a partial date (``1974``, ``1974-12``) has no canonical ``date``: it is dropped;
* a date-only value read into a canonical ``datetime``-only field becomes a naive midnight,
  and a naive midnight is written back as a date, so ``2014-08-16`` round-trips;
* any other naive time is written with ``FhirMapContext.local_tz`` (FHIR needs an offset).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.canonical import Address, Coded, ContactPoint, HumanName, Money, Period
from hub.errors import MappingError
from mappings.fhir.context import FhirMapContext

__all__ = [
    "Json",
    "address_from",
    "address_to",
    "coded_from",
    "coded_to",
    "coding_from",
    "coding_to",
    "compact",
    "date_from",
    "date_to",
    "datetime_from",
    "datetime_to",
    "decimal_from",
    "decimal_to",
    "get_bool",
    "get_int",
    "get_list",
    "get_obj",
    "get_str",
    "get_strs",
    "instant_to",
    "many",
    "money_from",
    "money_to",
    "name_from",
    "name_to",
    "period_from",
    "period_to",
    "telecom_from",
    "telecom_to",
    "when_from",
]

Json = dict[str, Any]

_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PARTIAL_DATE = re.compile(r"\d{4}(-\d{2})?")


def compact(obj: Json) -> Json:
    """Drop keys whose value is None, an empty list, an empty dict or an empty string."""
    return {k: v for k, v in obj.items() if v is not None and v not in ([], {}, "")}


# --------------------------------------------------------------------------- JSON access


def get_obj(obj: Json, key: str, path: str) -> Json | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise MappingError(f"expected an object, got {type(value).__name__}", location=path)


def get_list(obj: Json, key: str, path: str) -> list[Json]:
    """A repeating complex element; every item must be an object."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise MappingError("expected a list of objects", location=path)
    return value


def get_str(obj: Json, key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value or None
    raise MappingError(f"expected a string, got {type(value).__name__}", location=path)


def get_strs(obj: Json, key: str, path: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MappingError("expected a list of strings", location=path)
    return [v for v in value if v]


def get_bool(obj: Json, key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise MappingError("expected true or false", location=path)


def get_int(obj: Json, key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise MappingError("expected an integer", location=path)


# --------------------------------------------------------------------------- dates and times


def date_from(value: Any, path: str) -> date | None:
    """FHIR ``date`` → ``date``; partial dates are dropped (see the module docstring)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MappingError("expected a date string", location=path)
    if _PARTIAL_DATE.fullmatch(value):
        return None
    if not _FULL_DATE.fullmatch(value):
        raise MappingError("not a FHIR date (YYYY-MM-DD)", location=path)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise MappingError("not a valid calendar date", location=path) from exc


def when_from(value: Any, path: str) -> datetime | date | None:
    """FHIR ``dateTime``/``instant`` → ``datetime`` (with time) or ``date`` (without)."""
    if value is None:
        return None
    if isinstance(value, str) and "T" not in value:
        return date_from(value, path)
    if not isinstance(value, str):
        raise MappingError("expected a dateTime string", location=path)
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise MappingError("not a FHIR dateTime", location=path) from exc


def datetime_from(value: Any, path: str) -> datetime | None:
    """FHIR ``dateTime`` → canonical ``datetime``-only field; a date becomes naive midnight."""
    when = when_from(value, path)
    if isinstance(when, datetime) or when is None:
        return when
    return datetime.combine(when, time())


def date_to(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def datetime_to(value: datetime | date | None, ctx: FhirMapContext) -> str | None:
    """Canonical date/datetime → FHIR ``dateTime`` text (naive midnight → a date)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:
        if value.time() == time():
            return value.date().isoformat()
        value = value.replace(tzinfo=ctx.local_tz)
    return value.isoformat()


def instant_to(value: datetime | None, ctx: FhirMapContext) -> str | None:
    """Canonical datetime → FHIR ``instant`` (always a full time with an offset)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ctx.local_tz)
    return value.isoformat()


def period_from(obj: Json | None, path: str) -> Period | None:
    if not obj:
        return None
    start = when_from(obj.get("start"), f"{path}.start")
    end = when_from(obj.get("end"), f"{path}.end")
    return Period(start=start, end=end) if start or end else None


def period_to(period: Period | None, ctx: FhirMapContext) -> Json | None:
    if period is None:
        return None
    return compact({"start": datetime_to(period.start, ctx), "end": datetime_to(period.end, ctx)})


# --------------------------------------------------------------------------- numbers


def decimal_from(value: Any, path: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MappingError("expected a decimal", location=path)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise MappingError("not a decimal", location=path) from exc


def decimal_to(value: Decimal | None) -> float | int | None:
    """JSON number; integral values stay integers so ``10`` is not written ``10.0``."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)


def money_from(obj: Json | None, path: str) -> Money | None:
    """FHIR Money (value, currency) → Money; the hub's default currency is USD."""
    if not obj:
        return None
    amount = decimal_from(obj.get("value"), f"{path}.value")
    if amount is None:
        return None
    currency = get_str(obj, "currency", f"{path}.currency")
    return Money(amount=amount, currency=currency or "USD")


def money_to(money: Money | None) -> Json | None:
    if money is None:
        return None
    return {"value": decimal_to(money.amount), "currency": money.currency}


# --------------------------------------------------------------------------- coded values


def coding_from(obj: Json | None, path: str) -> Coded | None:
    if not obj:
        return None
    coded = Coded(
        code=get_str(obj, "code", f"{path}.code"),
        system=get_str(obj, "system", f"{path}.system"),
        display=get_str(obj, "display", f"{path}.display"),
    )
    return coded if coded.code or coded.system or coded.display else None


def coding_to(coded: Coded | None) -> Json | None:
    if coded is None:
        return None
    return compact({"system": coded.system, "code": coded.code, "display": coded.display}) or None


def coded_from(obj: Json | None, path: str) -> Coded | None:
    """CodeableConcept → Coded: the first coding; ``text`` only when there is no coding."""
    if not obj:
        return None
    codings = get_list(obj, "coding", f"{path}.coding")
    if codings:
        return coding_from(codings[0], f"{path}.coding[0]")
    text = get_str(obj, "text", f"{path}.text")
    return Coded(display=text) if text else None


def coded_to(coded: Coded | None) -> Json | None:
    """Coded → CodeableConcept; a Coded with neither code nor system is free text."""
    if coded is None:
        return None
    if coded.code is None and coded.system is None:
        return {"text": coded.display} if coded.display else None
    return {"coding": [coding_to(coded)]}


# --------------------------------------------------------------------------- people and places


def name_from(obj: Json, path: str) -> HumanName | None:
    """HumanName; only the first prefix and suffix are kept (canonical XPN shape)."""
    prefixes = get_strs(obj, "prefix", f"{path}.prefix")
    suffixes = get_strs(obj, "suffix", f"{path}.suffix")
    name = HumanName(
        family=get_str(obj, "family", f"{path}.family"),
        given=get_strs(obj, "given", f"{path}.given"),
        prefix=prefixes[0] if prefixes else None,
        suffix=suffixes[0] if suffixes else None,
        use=get_str(obj, "use", f"{path}.use"),
        text=get_str(obj, "text", f"{path}.text"),
    )
    return name if name.model_dump(exclude_defaults=True) else None


def name_to(name: HumanName) -> Json:
    return compact(
        {
            "use": name.use,
            "text": name.text,
            "family": name.family,
            "given": list(name.given),
            "prefix": [name.prefix] if name.prefix else None,
            "suffix": [name.suffix] if name.suffix else None,
        }
    )


def address_from(obj: Json | None, path: str) -> Address | None:
    if not obj:
        return None
    address = Address(
        lines=get_strs(obj, "line", f"{path}.line"),
        city=get_str(obj, "city", f"{path}.city"),
        state=get_str(obj, "state", f"{path}.state"),
        postal_code=get_str(obj, "postalCode", f"{path}.postalCode"),
        country=get_str(obj, "country", f"{path}.country"),
        district=get_str(obj, "district", f"{path}.district"),
        use=get_str(obj, "use", f"{path}.use"),
        type=get_str(obj, "type", f"{path}.type"),
    )
    return address if address.model_dump(exclude_defaults=True) else None


def address_to(address: Address | None) -> Json | None:
    if address is None:
        return None
    return (
        compact(
            {
                "use": address.use,
                "type": address.type,
                "line": list(address.lines),
                "city": address.city,
                "district": address.district,
                "state": address.state,
                "postalCode": address.postal_code,
                "country": address.country,
            }
        )
        or None
    )


def telecom_from(obj: Json, path: str) -> ContactPoint | None:
    """ContactPoint; one without a value has nothing to carry and is dropped."""
    value = get_str(obj, "value", f"{path}.value")
    if value is None:
        return None
    return ContactPoint(
        value=value,
        system=get_str(obj, "system", f"{path}.system"),
        use=get_str(obj, "use", f"{path}.use"),
    )


def telecom_to(point: ContactPoint) -> Json:
    return compact({"system": point.system, "value": point.value, "use": point.use})


def many(items: list[Json], path: str, read: Any) -> list[Any]:
    """Apply ``read(item, "path[i]")`` to each item, keeping what is not None."""
    out = [read(item, f"{path}[{i}]") for i, item in enumerate(items)]
    return [o for o in out if o is not None]
