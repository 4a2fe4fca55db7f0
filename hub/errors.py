"""Carehub's error taxonomy.

Every error says, in its class, whether retrying can help::

    CarehubError
    ├── PermanentError                 retrying will not help: park with findings, answer AE/AR/4xx
    │   ├── ParseError                 bytes are not a well-formed message of the format
    │   ├── LimitExceeded              input over a hard limit (bytes, segments, repetitions, …)
    │   ├── ValidationFailed           well-formed but breaks a conformance rule
    │   ├── UnsupportedMessage         a type/version/trigger we do not handle
    │   ├── MappingError               native → canonical or canonical → native cannot be done
    │   ├── PartnerRejected            the partner answered AE/AR, 4xx, or a rejecting 999/TA1
    │   └── ConfigError                the configuration is wrong (file, line, key)
    └── TransientError                 retrying later can help: back off, retry tiers, then park
        ├── BrokerUnavailable          no connection/channel, or a publish not confirmed
        ├── StoreUnavailable           the database cannot be reached or a write failed
        ├── PartnerUnavailable         connection refused/reset, 5xx, 429, no ACK in time
        └── DeliveryTimeout            a network wait passed its deadline

Third-party exceptions are translated once, at the edge (``raise StoreUnavailable(...) from
exc``); nothing above the adapters sees a pika, SQLAlchemy or aiohttp exception.
"""

from __future__ import annotations

__all__ = [
    "BrokerUnavailable",
    "CarehubError",
    "ConfigError",
    "DeliveryTimeout",
    "LimitExceeded",
    "MappingError",
    "ParseError",
    "PartnerRejected",
    "PartnerUnavailable",
    "PermanentError",
    "StoreUnavailable",
    "TransientError",
    "UnsupportedMessage",
    "ValidationFailed",
    "is_transient",
]


class CarehubError(Exception):
    """Root of every error Carehub raises on purpose."""

    transient: bool = False

    def __init__(self, message: str, *, code: str | None = None, location: str | None = None):
        super().__init__(message)
        self.message = message
        #: a short machine code (HL7 table 0357, TA1 note code, FHIR issue type, …)
        self.code = code
        #: where in the input, in the format's own terms ("PID-3", "ISA13", "Patient.name[0]")
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class PermanentError(CarehubError):
    """Retrying will not help."""


class ParseError(PermanentError):
    """The bytes are not a well-formed message of the expected format."""


class LimitExceeded(ParseError):
    """The input is over a hard limit and was refused before a full parse."""


class ValidationFailed(PermanentError):
    """Well-formed input that breaks a conformance rule."""


class UnsupportedMessage(PermanentError):
    """A message type, trigger, version or resource the hub does not handle."""


class MappingError(PermanentError):
    """A value cannot be carried between native and canonical form."""


class PartnerRejected(PermanentError):
    """The partner refused the message (HL7 AE/AR, HTTP 4xx, rejecting 999/TA1)."""


class ConfigError(PermanentError):
    """The configuration is wrong; the message names the file, line and key."""


class TransientError(CarehubError):
    """Retrying later can help."""

    transient = True

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        location: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, code=code, location=location)
        #: seconds the other side asked us to wait (HTTP Retry-After), if it said
        self.retry_after = retry_after


class BrokerUnavailable(TransientError):
    """No broker connection or channel, or a publish the broker did not confirm."""


class StoreUnavailable(TransientError):
    """The database cannot be reached or a write did not complete."""


class PartnerUnavailable(TransientError):
    """The partner system cannot take the message now (refused, reset, 5xx, 429)."""


class DeliveryTimeout(TransientError):
    """A network wait passed its deadline."""


def is_transient(exc: BaseException) -> bool:
    """True when retrying the operation that raised ``exc`` can help."""
    if isinstance(exc, CarehubError):
        return exc.transient
    return isinstance(exc, (ConnectionError, TimeoutError, OSError))
