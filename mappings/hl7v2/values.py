"""HL7 v2 primitive values → Python values: DTM/TS/DT, NM, ID flags.

The explicit null ``""`` (v2.5.1 chapter 2.5.3: "delete the value") is no value to every
reader — never a bad date or number; the mappings carry it as a cleared field.

Every reader takes the text as sent and the location it came from (``PID-7``, ``FT1[2]-10``)
so a bad value becomes a ``MappingError`` that names the field and never a bare
``ValueError``. The text itself is quoted back in the error because it is the sender's own
value for that field (a date or a number), which is what an interface analyst needs to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation

from hub.errors import MappingError

__all__ = [
    "HL7Moment",
    "no_value",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_int",
    "parse_moment",
    "parse_offset",
    "parse_when",
    "parse_yes_no",
]

# v2.5.1 chapter 2A.22 DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. The decimal
# point may be missing (``20110613122406637``): some engines write milliseconds that way,
# and after the seconds nothing but a fraction or an offset can follow, so it is unambiguous.
_DTM = re.compile(
    r"(?P<y>\d{4})(?:(?P<mo>\d{2})(?:(?P<d>\d{2})(?:(?P<h>\d{2})(?:(?P<mi>\d{2})"
    r"(?:(?P<s>\d{2})(?:\.?(?P<f>\d{1,4}))?)?)?)?)?)?(?P<z>[+-]\d{4})?"
)


@dataclass(frozen=True, slots=True)
class HL7Moment:
    """A parsed DTM: the calendar day as written, the time when one was sent, and the
    offset when one was sent (or the sender's default)."""

    day: date
    clock: time | None
    tz: tzinfo | None

    def as_datetime(self) -> datetime:
        """The moment as a datetime; a day without a time is its midnight."""
        return datetime.combine(self.day, self.clock or time(0), self.tz)

    def as_when(self) -> datetime | date:
        """A date when only a day was sent, else a datetime (precision kept)."""
        return self.day if self.clock is None else self.as_datetime()


def no_value(text: str | None) -> bool:
    """Empty, blank, or the explicit null ``""``: nothing to parse."""
    return not text or not text.strip() or text.strip() == '""'


def parse_offset(text: str) -> timezone:
    """``+0215`` → a fixed offset; raises ValueError beyond ±14 hours or 59 minutes."""
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[3:5])
    if hours > 14 or minutes > 59:
        raise ValueError(text)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_moment(text: str, loc: str, default_tz: tzinfo | None = None, *, what: str) -> HL7Moment:
    """Parse a DTM (or the first component of a TS). Reduced precision is allowed: a year or
    a year and month stand for their first day. Without an offset, ``default_tz`` (the
    sender's, from MSH-7) applies."""
    match = _DTM.fullmatch(text.strip())
    if match is None:
        raise _invalid(text, loc, what)
    g = match.groupdict()
    try:
        day = date(int(g["y"]), int(g["mo"] or 1), int(g["d"] or 1))
        clock = None
        if g["h"] is not None:
            micro = int((g["f"] or "0").ljust(6, "0"))
            clock = time(int(g["h"]), int(g["mi"] or 0), int(g["s"] or 0), micro)
        tz = parse_offset(g["z"]) if g["z"] else default_tz
    except ValueError as exc:
        raise _invalid(text, loc, what) from exc
    return HL7Moment(day, clock, tz)


def _invalid(text: str, loc: str, what: str) -> MappingError:
    return MappingError(f"{text!r} is not a valid {what}", code="102", location=loc)


def parse_date(text: str | None, loc: str) -> date | None:
    """DT, or the day part of a DTM/TS as written (no offset conversion): ``PID-7``."""
    if not text or no_value(text):
        return None
    return parse_moment(text, loc, what="date").day


def parse_datetime(text: str | None, loc: str, default_tz: tzinfo | None) -> datetime | None:
    """DTM/TS as a datetime; a date alone is its midnight."""
    if not text or no_value(text):
        return None
    return parse_moment(text, loc, default_tz, what="date/time").as_datetime()


def parse_when(text: str | None, loc: str, default_tz: tzinfo | None) -> datetime | date | None:
    """DTM/TS keeping its precision: a date when no time was sent."""
    if not text or no_value(text):
        return None
    return parse_moment(text, loc, default_tz, what="date/time").as_when()


def parse_decimal(text: str | None, loc: str) -> Decimal | None:
    """NM (v2.5.1 chapter 2A.47): optional sign, digits, optional decimal point."""
    if not text or no_value(text):
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise MappingError(f"{text!r} is not a number", code="102", location=loc) from exc
    if not value.is_finite():
        raise MappingError(f"{text!r} is not a number", code="102", location=loc)
    return value


def parse_int(text: str | None, loc: str) -> int | None:
    """NM or SI that must be a whole number."""
    value = parse_decimal(text, loc)
    if value is None:
        return None
    if value != value.to_integral_value():
        raise MappingError(f"{text!r} is not a whole number", code="102", location=loc)
    return int(value)


def parse_yes_no(text: str | None) -> bool | None:
    """ID from table 0136 (Y/N); anything else is unknown."""
    if not text or no_value(text):
        return None
    flag = text.strip().upper()
    return True if flag == "Y" else False if flag == "N" else None
