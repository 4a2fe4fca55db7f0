"""What a mapping may know besides the message itself: where it came from, and the
vocabulary tables. Mappings are pure functions of (message, context)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from hub.canonical import Provenance

__all__ = ["MapContext", "Vocabulary"]


class Vocabulary(Protocol):
    """Code translation tables (HL7 table 0001 → administrative sex, …), site-overridable."""

    def translate(self, table: str, code: str | None) -> str | None:
        """The target code for ``code`` in ``table``, or None when the table has no row."""
        ...

    def reverse(self, table: str, target: str | None) -> str | None:
        """The first source code that translates to ``target``."""
        ...


class _NoVocabulary:
    def translate(self, table: str, code: str | None) -> str | None:
        return None

    def reverse(self, table: str, target: str | None) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class MapContext:
    """Context for one mapping call.

    ``namespaces`` is the source system's identifier namespace per entity type from the
    config (``{"patient": "HOSP-MRN"}``), used when a message does not name its assigning
    authority.
    """

    source_system: str
    format: str
    source_port: str | None = None
    message_id: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    vocab: Vocabulary = field(default_factory=_NoVocabulary)
    namespaces: Mapping[str, str] = field(default_factory=dict)

    def provenance(
        self,
        message_key: str | None,
        control_id: str | None = None,
        recorded_at: datetime | None = None,
    ) -> Provenance:
        return Provenance(
            source_system=self.source_system,
            source_port=self.source_port,
            format=self.format,
            message_key=message_key,
            control_id=control_id,
            message_id=self.message_id,
            received_at=self.received_at,
            recorded_at=recorded_at,
        )
