"""The store's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

- ``messages``: the raw message log — every inbound and outbound message, its status and
  findings, the acknowledgement we gave, and the de-duplication key.
- ``deliveries``: one row per (envelope, destination): what happened to each delivery.
- ``entities`` / ``entity_versions``: canonical entity state with every version kept.
- ``xrefs``: the identifier cross-reference (a system's identifier → canonical id).
- ``processed``: event ids a consumer has applied (idempotency).
- ``control_numbers``: X12 and HL7 outbound control numbers per partner, never reused.
- ``audit``: append-only trail of who did what, when, from where, with what outcome.
- ``match_keys``: demographic keys per record, for matching rules (sync engine).
- ``refs``: which record points at which (re-pointed on a merge; double-booking checks).
- ``sync_log``: what the sync engine did with each event (applied, stale, unchanged, echo,
  conflict, review) — the change history beside ``entity_versions``.
- ``reviews``: ambiguous matches waiting for a person.
- ``sent``: what each destination was last sent per record (echo detection).

Version 2 added the last five tables; ``SqlStore.migrate`` creates what is missing.
Version 3 added ``messages.digest`` (the content digest that tells a resend from another
message under a reused control id); ``migrate`` adds the column to an older database, whose
rows keep it empty (their digest is computed from their raw bytes when it is needed).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "SCHEMA_VERSION",
    "audit",
    "control_numbers",
    "deliveries",
    "entities",
    "entity_versions",
    "match_keys",
    "messages",
    "metadata",
    "processed",
    "refs",
    "reviews",
    "schema_info",
    "sent",
    "sync_log",
    "xrefs",
]

SCHEMA_VERSION = 3

metadata = MetaData()

_ts = DateTime(timezone=True)

schema_info = Table(
    "carehub_schema",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("migrated_at", _ts, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("direction", String(3), nullable=False),  # in / out
    Column("system", String(64), nullable=False),
    Column("port", String(64)),
    Column("format", String(16), nullable=False),
    Column("message_key", String(64)),
    Column("control_id", String(128)),
    Column("dedup_key", String(512)),
    #: SHA-256 hex of the normalised content (``hub.ids.content_digest``); empty before v3
    Column("digest", String(64)),
    Column("status", String(16), nullable=False),
    Column("received_at", _ts, nullable=False),
    Column("updated_at", _ts, nullable=False),
    Column("size", Integer, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("findings", Text),  # JSON list of findings
    Column("ack", LargeBinary),  # the answer we gave (ACK, 999/TA1, OperationOutcome)
    Column("peer", String(256)),
    Column("correlation_id", String(64)),
    Column("duplicate_of", String(36)),
    Column("event_count", Integer),
)
Index("ix_messages_dedup", messages.c.system, messages.c.dedup_key)
Index("ix_messages_status", messages.c.status, messages.c.received_at)
Index("ix_messages_received", messages.c.received_at)

deliveries = Table(
    "deliveries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("envelope_id", String(64), nullable=False),
    Column("destination", String(64), nullable=False),
    Column("event_kind", String(64)),
    Column("message_id", String(36)),  # the inbound message the event came from
    Column("outbound_message_id", String(36)),  # what we rendered and sent
    Column("status", String(16), nullable=False),  # delivered, retrying, parked, skipped
    Column("attempts", Integer, nullable=False),
    Column("detail", Text),
    Column("updated_at", _ts, nullable=False),
    UniqueConstraint("envelope_id", "destination", name="uq_delivery"),
)
Index("ix_deliveries_status", deliveries.c.destination, deliveries.c.status)

entities = Table(
    "entities",
    metadata,
    Column("entity_type", String(32), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("data", Text, nullable=False),  # canonical JSON
    Column("source", String(64)),
    Column("updated_at", _ts, nullable=False),
    Column("merged_into", String(64)),
)
Index("ix_entities_updated", entities.c.entity_type, entities.c.updated_at)

entity_versions = Table(
    "entity_versions",
    metadata,
    Column("entity_type", String(32), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("data", Text, nullable=False),
    Column("source", String(64)),
    Column("event_id", String(64)),
    Column("event_kind", String(64)),
    Column("changed_at", _ts, nullable=False),
)

xrefs = Table(
    "xrefs",
    metadata,
    Column("entity_type", String(32), nullable=False),
    Column("namespace", String(256), nullable=False),
    Column("value", String(256), nullable=False),
    Column("canonical_id", String(64), nullable=False),
    Column("source", String(64)),
    Column("created_at", _ts, nullable=False),
    UniqueConstraint("entity_type", "namespace", "value", name="uq_xref"),
)
Index("ix_xrefs_canonical", xrefs.c.entity_type, xrefs.c.canonical_id)

processed = Table(
    "processed",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", _ts, nullable=False),
)

control_numbers = Table(
    "control_numbers",
    metadata,
    Column("partner", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("last_value", BigInteger, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", _ts, nullable=False),
    Column("actor", String(128), nullable=False),  # system name, token client id, CLI user
    Column("action", String(32), nullable=False),  # received, read, sent, replayed, parked, …
    Column("subject", String(256)),  # message id, entity type/id — never PHI
    Column("outcome", String(32), nullable=False),
    Column("peer", String(256)),
    Column("detail", Text),
)
Index("ix_audit_at", audit.c.at)

match_keys = Table(
    "match_keys",
    metadata,
    Column("entity_type", String(32), nullable=False),
    Column("key", String(512), nullable=False),
    Column("canonical_id", String(64), nullable=False),
    UniqueConstraint("entity_type", "key", "canonical_id", name="uq_match_key"),
)
Index("ix_match_keys", match_keys.c.entity_type, match_keys.c.key)

refs = Table(
    "refs",
    metadata,
    Column("from_type", String(32), nullable=False),
    Column("from_id", String(64), nullable=False),
    Column("to_type", String(32), nullable=False),
    Column("to_id", String(64), nullable=False),
    UniqueConstraint("from_type", "from_id", "to_type", "to_id", name="uq_ref"),
)
Index("ix_refs_to", refs.c.to_type, refs.c.to_id)

sync_log = Table(
    "sync_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", _ts, nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("event_id", String(64)),
    Column("event_kind", String(64)),
    Column("source", String(64)),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),
)
Index("ix_sync_log_event", sync_log.c.event_id)
Index("ix_sync_log_entity", sync_log.c.entity_type, sync_log.c.entity_id)

reviews = Table(
    "reviews",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", _ts, nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("candidates", Text, nullable=False),  # JSON list of canonical ids
    Column("rule", String(128)),
    Column("status", String(16), nullable=False),  # open, linked, kept
)

sent = Table(
    "sent",
    metadata,
    Column("destination", String(64), primary_key=True),
    Column("entity_type", String(32), primary_key=True),
    Column("entity_id", String(64), primary_key=True),
    Column("content", Text, nullable=False),  # canonical JSON of what was sent
    Column("version", Integer, nullable=True),  # the record version it was
    Column("at", _ts, nullable=False),
)
