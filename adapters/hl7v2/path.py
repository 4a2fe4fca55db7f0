"""Field paths in HL7 terms: ``PID-3``, ``PID-3(2).1``, ``PID-5.1.1``, ``OBX[2]-5``.

``SEG[occurrence]-field(repetition).component.subcomponent``; every index counts from 1 as in
the standard. Omitted parts default the way the HAPI terser does for reading a primitive:
occurrence 1, repetition 1, component 1, subcomponent 1.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

__all__ = ["FieldPath", "parse_path"]

_PATH = re.compile(
    r"^(?P<seg>[A-Z][A-Z0-9]{2})(?:\[(?P<occ>\d+)\])?"
    r"(?:-(?P<field>\d+)(?:\((?P<rep>\d+)\))?(?:\.(?P<comp>\d+)(?:\.(?P<sub>\d+))?)?)?$"
)


class FieldPath(NamedTuple):
    """A parsed path. ``field`` is None for a whole segment; ``repetition``, ``component`` and
    ``subcomponent`` are None when the path does not name them."""

    segment: str
    occurrence: int
    field: int | None
    repetition: int | None
    component: int | None
    subcomponent: int | None

    def __str__(self) -> str:
        text = self.segment if self.occurrence == 1 else f"{self.segment}[{self.occurrence}]"
        if self.field is None:
            return text
        text += f"-{self.field}"
        if self.repetition is not None:
            text += f"({self.repetition})"
        if self.component is not None:
            text += f".{self.component}"
            if self.subcomponent is not None:
                text += f".{self.subcomponent}"
        return text


def _index(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value < 1:
        raise ValueError("HL7 path indexes count from 1")
    return value


@lru_cache(maxsize=4096)
def parse_path(path: str) -> FieldPath:
    """Parse a path; raises ``ValueError`` for text that is not one (a programming error)."""
    match = _PATH.match(path.strip())
    if match is None:
        raise ValueError(f"not an HL7 field path: {path!r}")
    return FieldPath(
        match["seg"],
        _index(match["occ"]) or 1,
        _index(match["field"]),
        _index(match["rep"]),
        _index(match["comp"]),
        _index(match["sub"]),
    )
