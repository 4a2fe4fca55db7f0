"""Every id the hub derives rather than draws, in one place.

A derived id is a pure function of what identifies the thing it names, so the same work
done again — a stored message re-processed, a sender's resend, a broker redelivery, a trip
through a retry tier — yields the same id, and every consumer can be idempotent on it.

=====================  ===============================================  ==========================
id                     derived from                                     used by
=====================  ===============================================  ==========================
content digest         the message's content, framing and line-ending   ``hub.pipeline`` (tells a
                       style left out (each format normalises it)       resend from a reused id)
event / envelope id    sender + de-duplication key (HL7: MSH-3|MSH-4|   ``hub.pipeline`` (the one
                       MSH-10) + content digest, else the stored        place an inbound event
                       message id; position                             gets its id)
raw envelope id        the event basis (as above) + ``raw``             ``hub.pipeline`` (pass-
                                                                        through, ``hub.passthru``)
outgoing envelope id   incoming envelope id (+ the other appointment    ``hub.sync``
                       of a conflict)
delivery key           envelope id + destination                        FHIR ``X-Idempotency-Key``
outbound MSH-10        envelope id + destination                        MLLP deliveries (raw
                                                                        pass-through too)
outbox file name       event kind + envelope id                         X12 deliveries
default MSH-10         event id                                         ``mappings.hl7v2``
BHT03 / BEG03          event id                                         ``mappings.x12``
=====================  ===============================================  ==========================

The formulas are fixed: changing one changes the ids of work already on the broker, and a
redelivery after an upgrade would no longer be recognised as a copy. ``tests/hub/test_ids.py``
pins them. Ids that only need to be unique (a new canonical record, a stored message, the
random default of ``Event.id`` before the pipeline sets it) are ``uuid4`` where they are made.
"""

from __future__ import annotations

import hashlib
import uuid

from hub.canonical import Event, EventKind

__all__ = [
    "content_digest",
    "delivery_key",
    "event_basis",
    "event_id",
    "mllp_control_id",
    "outbox_file_name",
    "outgoing_envelope_id",
    "raw_envelope_id",
    "reference_id",
    "rendered_control_id",
]

#: the UUID namespace of inbound event ids (fixed: see the module docstring)
_EVENT_NS = uuid.UUID("0b5e3c38-2f0e-4a59-8b8e-6f3f2d0c7a11")
#: HL7 v2 MSH-10 (ST, 20 characters) and X12 BHT03/BEG03 references hold 20 characters
_CONTROL_LENGTH = 20


def content_digest(content: bytes) -> str:
    """SHA-256 (hex) of a message's normalised content: what tells a resend of a message
    from another message sent under the same control id (senders reset their counters)."""
    return hashlib.sha256(content).hexdigest()


def event_basis(
    system: str, dedup_key: str | None, message_id: str, digest: str | None = None
) -> str:
    """What a message's event ids are derived from: the sending system, its de-duplication
    key (HL7 v2: MSH-3|MSH-4|MSH-10; X12: ISA05:ISA06|ISA13) and its :func:`content_digest`,
    so a resend of the same message under a new stored id yields the same events, and a
    different message under a reused control id yields others (it is not skipped downstream
    as "already applied"); without a key (FHIR REST) the stored message id, so re-processing
    that stored message does. Without a digest (a row stored before schema version 3) the
    key alone, as then."""
    if not dedup_key:
        return message_id
    return f"{system}|{dedup_key}#{digest}" if digest else f"{system}|{dedup_key}"


def event_id(basis: str, position: int) -> str:
    """The id of the ``position``-th event (0-based, in mapping order) of the message whose
    :func:`event_basis` is ``basis``; the pipeline gives it to the event and its envelope."""
    return str(uuid.uuid5(_EVENT_NS, f"{basis}:{position}"))


def raw_envelope_id(basis: str) -> str:
    """The id of the raw (pass-through) envelope of the message whose :func:`event_basis` is
    ``basis``: one per message, apart from its events' ids, the same for a resend."""
    return str(uuid.uuid5(_EVENT_NS, f"{basis}:raw"))


def outgoing_envelope_id(envelope_id: str, event: Event) -> str:
    """The sync engine's envelope id for ``event`` published from incoming ``envelope_id``:
    the incoming id for the event itself (re-processing republishes under the same id); for
    an extra event — an appointment conflict — one derived from the incoming id and the
    other appointment, equally stable and distinct per conflicting appointment."""
    if event.kind is not EventKind.APPOINTMENT_CONFLICT:
        return envelope_id
    other = event.related[0].id if event.related else ""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{envelope_id}:conflict:{other}"))


def delivery_key(envelope_id: str, destination: str) -> str:
    """``X-Idempotency-Key`` of a delivery: the same envelope to the same destination always
    carries the same key, however often it is retried or redelivered."""
    return f"{envelope_id}:{destination}"


def mllp_control_id(envelope_id: str, destination: str) -> str:
    """MSH-10 of an HL7 v2 delivery: 20 hex digits of SHA-1 over :func:`delivery_key`, so a
    retry carries the same control id and the partner's duplicate check sees a resend."""
    digest = hashlib.sha1(delivery_key(envelope_id, destination).encode()).hexdigest()
    return digest[:_CONTROL_LENGTH]


def outbox_file_name(kind: str, envelope_id: str) -> str:
    """The X12 outbox file an envelope is written to: a rewrite replaces, never adds."""
    return f"{kind}-{envelope_id}.x12"


def rendered_control_id(event_id: str) -> str:
    """MSH-10 when the caller gives none: 20 hex digits of SHA-256 over the event id, so a
    re-render of the same event is byte-identical."""
    return _digest(event_id)


def reference_id(event_id: str) -> str:
    """X12 BHT03 / BEG03-style originator reference: 20 hex digits of SHA-256 over the event
    id, so a re-render of the same event carries the same reference."""
    return _digest(event_id)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:_CONTROL_LENGTH]
