"""The store: raw message log, deliveries, entity state, cross-reference, control numbers,
audit. SQLite by default, PostgreSQL by URL."""

from hub.store.store import (
    AuditRecord,
    DeliveryRecord,
    EntityRecord,
    MessageRecord,
    Store,
    Unit,
    VersionConflict,
)
from hub.store.urls import display_url, normalise_url

__all__ = [
    "AuditRecord",
    "DeliveryRecord",
    "EntityRecord",
    "MessageRecord",
    "Store",
    "Unit",
    "VersionConflict",
    "display_url",
    "normalise_url",
]
