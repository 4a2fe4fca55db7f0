"""Hard limits, checked by a quick scan before a message is split into fields.

A hostile or broken sender (a 100 MB frame, 10,000 repetitions in one field) is refused in
milliseconds with ``LimitExceeded`` naming where, instead of being parsed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat

from hub.errors import LimitExceeded

from .encoding import EncodingChars

__all__ = ["DEFAULT_LIMITS", "Limits", "check_lines"]

#: HL7 table 0357 "data type error": a value too long or too repeated for the receiver
_CODE = "102"


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds for one message (or one batch file, for ``max_bytes``)."""

    max_bytes: int = 16 * 1024 * 1024
    max_segments: int = 10_000
    max_fields: int = 500
    max_repetitions: int = 1_000
    #: component depth: components in one repetition, subcomponents in one component
    max_components: int = 1_000
    max_subcomponents: int = 1_000

    def check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise LimitExceeded(
                f"{size} bytes is over the limit of {self.max_bytes}", location="message"
            )


DEFAULT_LIMITS = Limits()


def check_lines(lines: Sequence[str], enc: EncodingChars, limits: Limits) -> None:
    """Refuse ``lines`` (one segment each) when over ``limits``.

    Counting a delimiter in a whole line is an upper bound for every field in it, so only a
    suspicious line is split further — with C-level splits and counts, no Python loop over
    fields — and only a line really over a limit is walked to name the field.
    """
    if len(lines) > limits.max_segments:
        raise LimitExceeded(
            f"{len(lines)} segments is over the limit of {limits.max_segments}", location="message"
        )
    fs, rep, comp, sub = enc.field, enc.repetition, enc.component, enc.subcomponent
    max_f, max_r, max_c, max_s = (
        limits.max_fields,
        limits.max_repetitions,
        limits.max_components,
        limits.max_subcomponents,
    )
    for number, line in enumerate(lines, 1):
        if line.count(fs) > max_f:
            raise LimitExceeded(
                f"more than {max_f} fields", location=_where(line, number), code=_CODE
            )
        suspicious = (
            (rep and line.count(rep) >= max_r)
            or (comp and line.count(comp) >= max_c)
            or (sub and line.count(sub) >= max_s)
        )
        if suspicious and (
            _most(line, fs, rep, max_r)
            or _most(line, fs + rep, comp, max_c)
            or _most(line, fs + rep + comp, sub, max_s)
        ):
            _locate(line, number, enc, limits)


@lru_cache(maxsize=64)
def _splitter(breaks: str) -> re.Pattern[str]:
    return re.compile("[" + re.escape(breaks) + "]")


def _most(line: str, breaks: str, sep: str, limit: int) -> bool:
    """Whether one piece of ``line``, cut at any of ``breaks``, holds ``limit`` or more
    ``sep`` characters; the whole-line count answers most lines without splitting."""
    if not sep or line.count(sep) < limit:
        return False
    pieces = _splitter(breaks).split(line) if breaks else [line]
    return max(map(str.count, pieces, repeat(sep))) >= limit


def _where(line: str, number: int, index: int | None = None) -> str:
    seg = line[:3] if line[:3].isalnum() else f"segment {number}"
    if index is None:
        return seg
    # MSH-1 is the separator itself, so MSH field n sits at split index n - 1
    return f"{seg}-{index + 1 if line.startswith('MSH') else index}"


def _locate(line: str, number: int, enc: EncodingChars, limits: Limits) -> None:
    """Walk a line known to be over a limit and raise naming the field."""
    for index, value in enumerate(line.split(enc.field)):
        where = _where(line, number, index)
        reps = value.split(enc.repetition) if enc.repetition else [value]
        if len(reps) > limits.max_repetitions:
            raise LimitExceeded(
                f"more than {limits.max_repetitions} repetitions", location=where, code=_CODE
            )
        for rep in reps:
            comps = rep.split(enc.component) if enc.component else [rep]
            if len(comps) > limits.max_components:
                raise LimitExceeded(
                    f"more than {limits.max_components} components", location=where, code=_CODE
                )
            if any(_most(c, "", enc.subcomponent, limits.max_subcomponents) for c in comps):
                raise LimitExceeded(
                    f"more than {limits.max_subcomponents} subcomponents", location=where
                )
