"""How to render X12 for one destination: the interchange parties, control numbers, the
submitter and receiver the 837 names, version choices and the few values the canonical
model does not keep."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from adapters.x12 import Delimiters
from hub.errors import ConfigError

__all__ = [
    "ELIGIBILITY_VERSIONS",
    "INSTITUTIONAL_VERSIONS",
    "X12OutboundOptions",
    "PROFESSIONAL_VERSIONS",
    "PURCHASE_ORDER_VERSIONS",
]

PROFESSIONAL_VERSIONS = ("005010X222A1",)
INSTITUTIONAL_VERSIONS = ("005010X223A2",)
ELIGIBILITY_VERSIONS = ("005010X279A1",)
PURCHASE_ORDER_VERSIONS = ("005010", "004010")


def _local_now() -> datetime:
    return datetime.now()


@dataclass(frozen=True, slots=True)
class X12OutboundOptions:
    """Rendering options for one destination (trading partner).

    Interchange: ``sender_id``/``sender_qualifier`` (ISA06/ISA05), ``receiver_id``/
    ``receiver_qualifier`` (ISA08/ISA07), ``usage`` (ISA15: P production, T test),
    ``ack_requested`` (ISA14), ``application_sender``/``application_receiver`` (GS02/GS03;
    default the ISA ids). ``next_control(kind)`` allocates ISA13, GS06 and ST02 (``kind``
    is ``"ISA13"``, ``"GS06"``, ``"ST02"``): the hub backs it with its store, per partner,
    so a number is never reused.

    837: ``submitter_name``/``submitter_id`` (1000A NM103/NM109, the ETIN; default the
    sender id), ``submitter_contact`` and ``submitter_phone``/``submitter_email`` (1000A
    PER, one number required), ``receiver_name`` (1000B NM103; NM109 is the receiver id).
    ``claim_filing_indicator`` (SBR09) and ``patient_status`` (837I CL103) are values the
    canonical claim does not keep: a destination that needs them configures them here.
    ``signature_on_file``, ``assignment``, ``benefits_assigned``, ``release_of_information``
    are CLM06–CLM09, the provider's standing attestations.

    270: ``trace_originator`` (TRN03, ``1`` + the provider's EIN by convention; default
    ``9`` + the sender id).

    Versions: ``professional_version``, ``institutional_version``, ``eligibility_version``,
    ``purchase_order_version`` (``005010`` or ``004010``). ``clock`` gives the local time
    written where the canonical record has none (ISA09/10, GS04/05, BHT04/05).
    ``identifier_namespaces`` adds qualifier → namespace pairs (``{"G2": "acme:prov"}``)
    to the built-in ``x12_identifier_namespace`` table for choosing NM108/REF01 codes.
    """

    sender_id: str
    receiver_id: str
    next_control: Callable[[str], int]
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    usage: str = "P"
    ack_requested: bool = False
    application_sender: str | None = None
    application_receiver: str | None = None
    submitter_name: str = "CAREHUB"
    submitter_id: str | None = None
    submitter_contact: str = ""
    submitter_phone: str | None = None
    submitter_email: str | None = None
    receiver_name: str = ""
    claim_filing_indicator: str | None = None
    patient_status: str | None = None
    signature_on_file: str = "Y"
    assignment: str = "A"
    benefits_assigned: str = "Y"
    release_of_information: str = "Y"
    trace_originator: str | None = None
    professional_version: str = PROFESSIONAL_VERSIONS[0]
    institutional_version: str = INSTITUTIONAL_VERSIONS[0]
    eligibility_version: str = ELIGIBILITY_VERSIONS[0]
    purchase_order_version: str = PURCHASE_ORDER_VERSIONS[0]
    identifier_namespaces: Mapping[str, str] = field(default_factory=dict)
    delimiters: Delimiters | None = None
    line_break: str = ""
    clock: Callable[[], datetime] = _local_now

    def __post_init__(self) -> None:
        checks = (
            ("professional_version", self.professional_version, PROFESSIONAL_VERSIONS),
            ("institutional_version", self.institutional_version, INSTITUTIONAL_VERSIONS),
            ("eligibility_version", self.eligibility_version, ELIGIBILITY_VERSIONS),
            ("purchase_order_version", self.purchase_order_version, PURCHASE_ORDER_VERSIONS),
            ("usage", self.usage, ("P", "T")),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}", location=name)
        if not self.sender_id or not self.receiver_id:
            raise ConfigError("sender_id and receiver_id are required", location="sender_id")

    @property
    def gs_sender(self) -> str:
        return self.application_sender or self.sender_id

    @property
    def gs_receiver(self) -> str:
        return self.application_receiver or self.receiver_id
