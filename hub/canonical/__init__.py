"""The canonical model: one shape per business thing, whichever format it arrived in."""

from hub.canonical.base import (
    Address,
    CanonicalModel,
    Coded,
    ContactPoint,
    EntityType,
    HumanName,
    Identifier,
    Money,
    Period,
    RecordMeta,
    Ref,
)
from hub.canonical.entities import *  # noqa: F403 - the entity module's __all__ is the surface
from hub.canonical.entities import __all__ as _entities_all
from hub.canonical.events import Event, EventKind, Provenance, event_id

__all__ = [
    "Address",
    "CanonicalModel",
    "Coded",
    "ContactPoint",
    "EntityType",
    "Event",
    "EventKind",
    "HumanName",
    "Identifier",
    "Money",
    "Period",
    "Provenance",
    "RecordMeta",
    "Ref",
    "event_id",
    *_entities_all,
]
