"""The sync engine and its parts: between ``carehub.ingress`` and ``carehub.events``.

| module | job |
|---|---|
| ``engine`` | the consume/apply loop: retries on version conflict, save, publish |
| ``identity`` | the identity service: cross-reference, reservations, matching, reviews |
| ``linking`` | what may link patients: identifying identifiers, placeholders, disagreement |
| ``rules`` | the judgements (redelivered, stale, echo, ownership, unchanged), in order |
| ``merge`` | ``patient.merged``: retire, re-point identifiers and references |
| ``removal`` | removals (a FHIR DELETE): the tombstone version, published to subscribers |
| ``bookings`` | double-booking detection (``appointment.conflict``) |
| ``decisions`` | ``SyncDecision`` (what ``sync_log`` records) and ``Decision`` |
| ``state`` | a record's state in canonical JSON: content, references, merging |

See docs/sync.md.
"""

from hub.sync.decisions import Decision, SyncDecision
from hub.sync.engine import CONSUMER, SyncEngine
from hub.sync.identity import (
    MAX_CANDIDATES,
    Identified,
    IdentityService,
    IdentityStore,
    PatientMatch,
    identifier_pairs,
    match_patient,
)
from hub.sync.linking import IdentifierPolicy, disagreement, is_placeholder
from hub.sync.removal import DELETED_SOURCE, Remover, is_tombstone
from hub.sync.rules import Case, Rule, default_judgements
from hub.sync.state import merge_state

__all__ = [
    "CONSUMER",
    "DELETED_SOURCE",
    "MAX_CANDIDATES",
    "Case",
    "Decision",
    "IdentifierPolicy",
    "Identified",
    "IdentityService",
    "IdentityStore",
    "PatientMatch",
    "Remover",
    "Rule",
    "SyncDecision",
    "SyncEngine",
    "default_judgements",
    "disagreement",
    "identifier_pairs",
    "is_placeholder",
    "is_tombstone",
    "match_patient",
    "merge_state",
]
