"""The envelope every message travels in between the hub's stages.

Serialised as JSON on the broker. The envelope id is the idempotency key downstream: the same
stored message re-processed yields envelopes with the same ids (``hub.ids``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.canonical import Event

__all__ = ["Envelope", "RawEnvelope"]


class Envelope(BaseModel):
    """id, correlation id, source system and port, format, message key, received-at, a
    reference to the stored raw bytes, and the canonical payload.

    How often a delivery was tried is the broker's to count (``Delivery.attempt``, from the
    ``x-carehub-attempt`` header), not the envelope's: the body is never rewritten.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    correlation_id: str | None = None
    source_system: str
    source_port: str | None = None
    format: str
    message_key: str | None = None
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    raw_ref: str | None = None
    #: systems that must not receive this (the origin, and systems echoing what we sent)
    exclude_destinations: list[str] = Field(default_factory=list)
    #: on the other events of a message about one patient (an A01's encounter and
    #: coverage): that patient's identifiers and identity facts (first name, birth date,
    #: sex), so a reference to the patient that an identifier resolves to a record of
    #: another person is held as the patient event is (``hub.sync``). In a message about
    #: several patients, each event's own patient's; ``{"identifiers": [], "unmatched":
    #: why}`` when its reference names none or several of them (then held)
    subject: dict[str, Any] | None = None
    payload: Event

    @model_validator(mode="before")
    @classmethod
    def _legacy_attempt(cls, data: Any) -> Any:
        """Envelopes written before ``attempt`` was dropped carry ``"attempt": 0``; they can
        still sit in a retry tier or a parking queue, and must still be read."""
        if isinstance(data, dict) and "attempt" in data:
            return {k: v for k, v in data.items() if k != "attempt"}
        return data

    @property
    def routing_key(self) -> str:
        return self.payload.kind.value

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        return cls.model_validate_json(data)


class RawEnvelope(BaseModel):
    """A message passed through as it came (``hub.passthru``): the sender's bytes, never
    mapped, for destinations subscribed to its raw routing key (``hl7v2.ORU.R01``).

    Published to ``<ns>.raw``, never to the ingress: the sync engine does not see it. The
    id is derived like an event's (``hub.ids.raw_envelope_id``), so a resend or a
    re-processing gives the same id, and a delivery's MSH-10 derived from it stays stable.
    The bytes travel base64-encoded, untouched (any character set, any delimiters).
    """

    model_config = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    id: str
    correlation_id: str | None = None
    source_system: str
    source_port: str | None = None
    format: str = "hl7v2"
    #: ``ORU^R01`` (MSH-9 as sent) and the sender's control id (MSH-10)
    message_key: str | None = None
    control_id: str | None = None
    #: the raw routing key, ``hl7v2.<MSH-9.1>.<MSH-9.2>``
    routing: str
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    raw_ref: str | None = None
    #: systems that must not receive this (the sender)
    exclude_destinations: list[str] = Field(default_factory=list)
    raw: bytes

    @property
    def routing_key(self) -> str:
        return self.routing

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> RawEnvelope:
        return cls.model_validate_json(data)
