"""How to render for one destination: version, MSH-3..6, identifier preferences, vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from hub import ids
from hub.canonical import Event
from hub.context import Vocabulary
from hub.errors import MappingError
from mappings.vocab import load_vocabulary

__all__ = ["Hl7v2OutboundOptions", "control_id_for"]

#: MSH-10 is ST(20) in v2.5.1
_MAX_CONTROL_ID = 20


@dataclass(frozen=True, slots=True)
class Hl7v2OutboundOptions:
    """Rendering options for one destination.

    ``destination`` is the destination system's configured name: identifiers whose
    ``source`` is that system are preferred. ``identifier_namespaces`` is its namespace
    per entity kind (``{"patient": "HOSP-MRN"}``), preferred next. ``control_id`` is MSH-10;
    when None it is derived from the event id, which the hub derives from the envelope id,
    so a re-render of the same event carries the same MSH-10 (the idempotency key).
    ``reschedule_trigger`` renders ``appointment.rescheduled``: S13 by the standard, S14
    for receivers that only know S12/S14/S15. ``charge_trigger`` renders ``charge.posted``:
    DFT^P03 (``DFT_P03``), or P11 (``DFT_P11``) for receivers of the newer message.
    """

    version: str = "2.5.1"
    sending_application: str = "CAREHUB"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    identifier_namespaces: Mapping[str, str] = field(default_factory=dict)
    destination: str | None = None
    control_id: str | None = None
    processing_id: str = "P"
    reschedule_trigger: str = "S13"
    charge_trigger: str = "P03"
    vocab: Vocabulary = field(default_factory=load_vocabulary)

    def with_control_id(self, control_id: str) -> Hl7v2OutboundOptions:
        """These options for one message with the caller's MSH-10."""
        return replace(self, control_id=control_id)

    def version_at_least(self, *wanted: int) -> bool:
        """Whether ``version`` (``2.5.1``) is at least ``wanted`` (``2, 5``)."""
        parts = tuple(int(p) for p in self.version.split(".") if p.isdigit())
        return parts >= wanted


def control_id_for(event: Event, options: Hl7v2OutboundOptions) -> str:
    """MSH-10: the caller's control id, else 20 hex digits of a hash of the event id."""
    if options.control_id is not None:
        if not options.control_id or len(options.control_id) > _MAX_CONTROL_ID:
            raise MappingError(
                "a control id must be 1-20 characters", code="207", location="MSH-10"
            )
        return options.control_id
    return ids.rendered_control_id(event.id)
