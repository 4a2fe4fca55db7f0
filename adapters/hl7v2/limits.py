"""Hard limits, checked by a quick scan before a message is split into fields.

A hostile or broken sender (a 100 MB frame, 10,000 repetitions in one field) is refused in
milliseconds with ``LimitExceeded`` naming where, instead of being parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.errors import LimitExceeded

from .encoding import EncodingChars

__all__ = ["DEFAULT_LIMITS", "Limits", "check_lines"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds for one message (or one batch file, for ``max_bytes``)."""

    max_bytes: int = 16 * 1024 * 1024
    max_segments: int = 10_000
    max_fields: int = 500
    max_repetitions: int = 1_000
    #: component depth: components in one repetition, subcomponents in one component
    max_components: int = 100
    max_subcomponents: int = 100

    def check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise LimitExceeded(
                f"{size} bytes is over the limit of {self.max_bytes}", location="message"
            )


DEFAULT_LIMITS = Limits()


def check_lines(lines: Sequence[str], enc: EncodingChars, limits: Limits) -> None:
    """Refuse ``lines`` (one segment each) when over ``limits``. Counting a delimiter in a line
    is an upper bound for every field in it, so only a suspicious line is looked at closely."""
    if len(lines) > limits.max_segments:
        raise LimitExceeded(
            f"{len(lines)} segments is over the limit of {limits.max_segments}", location="message"
        )
    for number, line in enumerate(lines, 1):
        if line.count(enc.field) >= limits.max_fields:
            raise LimitExceeded(
                f"more than {limits.max_fields} fields", location=_where(line, number)
            )
        if _over(line, enc.repetition, limits.max_repetitions) or _nested_over(line, enc, limits):
            _check_fields(line, number, enc, limits)


def _over(text: str, sep: str, limit: int) -> bool:
    return bool(sep) and text.count(sep) >= limit


def _nested_over(text: str, enc: EncodingChars, limits: Limits) -> bool:
    return _over(text, enc.component, limits.max_components) or _over(
        text, enc.subcomponent, limits.max_subcomponents
    )


def _where(line: str, number: int, field: int | None = None) -> str:
    seg = line[:3] if line[:3].isalnum() else f"segment {number}"
    return f"{seg}-{field}" if field is not None else seg


def _check_fields(line: str, number: int, enc: EncodingChars, limits: Limits) -> None:
    for index, value in enumerate(line.split(enc.field)):
        # MSH-1 is the separator itself, so MSH field n sits at split index n - 1
        where = _where(line, number, index + 1 if line.startswith("MSH") else index)
        if _over(value, enc.repetition, limits.max_repetitions):
            raise LimitExceeded(f"more than {limits.max_repetitions} repetitions", location=where)
        if _nested_over(value, enc, limits):
            _check_components(value, where, enc, limits)


def _check_components(value: str, where: str, enc: EncodingChars, limits: Limits) -> None:
    reps = value.split(enc.repetition) if enc.repetition else [value]
    for rep in reps:
        comps = rep.split(enc.component) if enc.component else [rep]
        if len(comps) > limits.max_components:
            raise LimitExceeded(f"more than {limits.max_components} components", location=where)
        for comp in comps:
            if _over(comp, enc.subcomponent, limits.max_subcomponents):
                raise LimitExceeded(
                    f"more than {limits.max_subcomponents} subcomponents", location=where
                )
