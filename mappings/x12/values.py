"""X12 primitive values → Python values: DT (CCYYMMDD), TM (HHMM[SS[D[D]]]), R/N2 numbers,
DTP/DTM date formats (D8, RD8, DT) — and back.

Every reader takes the text as sent and the location it came from (``2300/CLM02``) so a bad
value becomes a ``MappingError`` naming the place. Unlike the HL7 v2 readers, the value is
never quoted back: X12 health-care values are PHI more often than not (X12 errors end up in
999s, logs and parking reasons).

X12 dates and times carry no time zone: a datetime read here is naive, the sender's local
time as written.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from hub.canonical import Money, Period
from hub.errors import MappingError

__all__ = [
    "ICD_SYSTEMS",
    "format_amount",
    "format_date",
    "format_decimal",
    "format_time",
    "icd_from_x12",
    "icd_to_x12",
    "parse_amount",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_implied",
    "parse_int",
    "parse_period",
    "parse_time",
]

_DATE8 = re.compile(r"\d{8}")
_DATE6 = re.compile(r"\d{6}")
_TIME = re.compile(r"(\d{2})(\d{2})(\d{2})?(\d{1,2})?")
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)")
_INTEGER = re.compile(r"-?\d+")

#: ICD code systems by X12 code list (HI qualifiers ABK… are ICD-10-CM, BK… ICD-9-CM)
ICD_SYSTEMS = {
    "icd10": "http://hl7.org/fhir/sid/icd-10-cm",
    "icd9": "http://hl7.org/fhir/sid/icd-9-cm",
}


def _bad(what: str, loc: str) -> MappingError:
    return MappingError(f"not a valid {what}", code="invalid", location=loc)


def parse_date(text: str, loc: str) -> date | None:
    """DT: ``CCYYMMDD`` (X12 5010), or ``YYMMDD`` (ISA09 and some 4010 senders, 20YY)."""
    text = text.strip()
    if not text:
        return None
    try:
        if _DATE8.fullmatch(text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if _DATE6.fullmatch(text):
            return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError as exc:
        raise _bad("date", loc) from exc
    raise _bad("date", loc)


def parse_time(text: str, loc: str) -> time | None:
    """TM: ``HHMM``, ``HHMMSS``, ``HHMMSSD`` or ``HHMMSSDD`` (decimal seconds)."""
    text = text.strip()
    if not text:
        return None
    m = _TIME.fullmatch(text)
    if m is None:
        raise _bad("time", loc)
    hour, minute, second, frac = m.groups()
    try:
        micro = int((frac or "0").ljust(6, "0")) if frac else 0
        return time(int(hour), int(minute), int(second or 0), micro)
    except ValueError as exc:
        raise _bad("time", loc) from exc


def parse_datetime(day: str, clock: str, loc: str) -> datetime | None:
    """A DT and a TM element read together (BHT04/05, GS04/05, BSN03/04); a date alone is
    its midnight."""
    d = parse_date(day, loc)
    if d is None:
        return None
    return datetime.combine(d, parse_time(clock, loc) or time(0))


def parse_period(fmt: str, text: str, loc: str) -> tuple[date | datetime | None, Period | None]:
    """A DTP/DTM value by its format qualifier (DTP02): ``D8`` → a date; ``RD8``
    (``CCYYMMDD-CCYYMMDD``) → the start date and the period; ``DT`` (``CCYYMMDDHHMM``) →
    a datetime. Other formats (``TM``, ``RD``) are not read: (None, None)."""
    text = text.strip()
    if not text:
        return None, None
    if fmt == "D8" or (not fmt and len(text) == 8):
        return parse_date(text, loc), None
    if fmt == "RD8":
        start, sep, end = text.partition("-")
        if not sep and not _DATE8.fullmatch(text):
            raise _bad("date range", loc)
        # a range written as one date (seen in guide examples) is that one day
        first, last = parse_date(start, loc), parse_date(end if sep else start, loc)
        return first, Period(start=first, end=last)
    if fmt == "DT":
        return parse_datetime(text[:8], text[8:], loc), None
    return None, None


def parse_decimal(text: str, loc: str) -> Decimal | None:
    """R (decimal) or N (integer) as written: optional minus, digits, optional point."""
    text = text.strip()
    if not text:
        return None
    if not _NUMBER.fullmatch(text):
        raise _bad("number", loc)
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise _bad("number", loc) from exc


def parse_implied(text: str, decimals: int, loc: str) -> Decimal | None:
    """Nn (implied decimal point): ``28566`` with N2 is 285.66 (810 TDS01)."""
    text = text.strip()
    if not text:
        return None
    if not _INTEGER.fullmatch(text):
        raise _bad("number", loc)
    return Decimal(text).scaleb(-decimals)


def parse_int(text: str, loc: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not _INTEGER.fullmatch(text):
        raise _bad("integer", loc)
    return int(text)


def parse_amount(text: str, loc: str) -> Money | None:
    """A monetary amount (R, ``CLM02``, ``CLP04``) as USD Money."""
    value = parse_decimal(text, loc)
    return None if value is None else Money(amount=value)


# --------------------------------------------------------------------------- writing


def format_date(value: date | datetime) -> str:
    """DT ``CCYYMMDD``."""
    return value.strftime("%Y%m%d")


def format_time(value: datetime) -> str:
    """TM ``HHMM``."""
    return value.strftime("%H%M")


def format_decimal(value: Decimal) -> str:
    """R: no exponent, no trailing zeros after the point, no point for whole numbers
    (X12.6: leading and trailing zeros are suppressed)."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_amount(money: Money | None) -> str:
    return "" if money is None else format_decimal(money.amount)


# --------------------------------------------------------------------------- ICD codes


def icd_from_x12(code: str, icd10: bool) -> str:
    """An ICD code as X12 sends it (no decimal point) → with its point, as ICD-10-CM and
    ICD-9-CM write it and as HL7 v2 and FHIR carry it: after the third character, after
    the fourth for ICD-9 E codes (``E8888`` → ``E888.8``)."""
    code = code.strip().upper()
    if "." in code:
        return code
    cut = 4 if (not icd10 and code.startswith("E")) else 3
    return code if len(code) <= cut else f"{code[:cut]}.{code[cut:]}"


def icd_to_x12(code: str) -> str:
    """The X12 form of an ICD code: no decimal point (5010 TR3 HI note)."""
    return code.replace(".", "").strip().upper()
