"""``eligibility.requested`` → 270 (005010X279A1): one request per interchange.

2000A/2100A the payer (NM1*PR, its payer id required), 2000B/2100B the provider asking
(NM1*1P, its NPI required), 2000C/2100C the subscriber (member id required; DMG, DTP*291
date of service), 2110C one EQ per service type (30, health benefit plan coverage, when
none is named); with a dependent, TRN, the name, DTP and EQ move to 2000D/2100D/2110D.
"""

from __future__ import annotations

from adapters.x12 import Interchange
from adapters.x12.builder import TransactionBuilder
from hub.canonical import ClaimParty, EligibilityCheck, Event
from hub.errors import MappingError

from ..values import format_date
from .common import dmg_elements, fit, id_for, interchange, name_elements, reference_id, required
from .options import X12OutboundOptions

__all__ = ["render_270"]


def render_270(event: Event, options: X12OutboundOptions) -> Interchange:
    """The 270 interchange for an ``eligibility.requested`` event."""
    check = event.entity
    if not isinstance(check, EligibilityCheck):
        raise MappingError(
            "eligibility.requested carries an EligibilityCheck",
            code="invalid",
            location="event.entity",
        )
    version = options.eligibility_version
    builder = interchange(options)
    tb = builder.group("HS", version, options.gs_sender, options.gs_receiver).transaction(
        "270", version
    )
    when = check.requested_at or options.clock()
    tb.add("BHT", "0022", "13", reference_id(event), format_date(when), when.strftime("%H%M"))
    _source(tb, check, options)
    _receiver(tb, check, options)
    _people(tb, check, event, options)
    return builder.build()


def _source(tb: TransactionBuilder, check: EligibilityCheck, options: X12OutboundOptions) -> None:
    """2000A HL*20, 2100A NM1*PR with the payer id (PI, else XV)."""
    payer = check.payer
    if payer is None:
        raise MappingError("a request needs its payer", code="required", location="2100A")
    found = id_for(payer.identifiers, ["PI", "XV", "46", "FI"], options)
    if found is None:
        raise MappingError("the payer id is required", code="required", location="2100A/NM109")
    tb.add("HL", "1", "", "20", "1")
    tb.add("NM1", "PR", "2", fit(payer.organization_name, 60), "", "", "", "", *found)


def _receiver(tb: TransactionBuilder, check: EligibilityCheck, options: X12OutboundOptions) -> None:
    """2000B HL*21, 2100B NM1*1P with the provider's NPI (else its service provider
    number, payer id, EIN or SSN, as the guide allows)."""
    provider = check.provider
    if provider is None:
        raise MappingError("a request needs the provider asking", code="required", location="2100B")
    found = id_for(provider.identifiers, ["XX", "SV", "PI", "24", "34"], options)
    if found is None:
        raise MappingError(
            "the provider's NPI is required", code="required", location="2100B/NM109"
        )
    tb.add("HL", "2", "1", "21", "1")
    tb.add("NM1", "1P", *name_elements(provider), *found)


def _people(
    tb: TransactionBuilder, check: EligibilityCheck, event: Event, options: X12OutboundOptions
) -> None:
    """2000C subscriber, then 2000D dependent when there is one; the person asked about
    carries the TRN, DMG, DTP*291 and the EQ loops."""
    sub = check.subscriber
    if sub is None:
        raise MappingError("a request needs its subscriber", code="required", location="2100C")
    dependent = check.dependent
    member = next((i.value for i in sub.identifiers if i.type == "MB"), None)
    tb.add("HL", "3", "2", "22", "1" if dependent else "0")
    if dependent is None:
        _trace(tb, check, event, options)
    tb.add(
        "NM1",
        "IL",
        *name_elements(sub, person=True),
        "MI",
        required(member, "2100C/NM109", "the member id"),
    )
    if dependent is None:
        _person_detail(tb, sub, check)
        return
    tb.add("HL", "4", "3", "23", "0")
    _trace(tb, check, event, options)
    tb.add("NM1", "03", *name_elements(dependent, person=True))
    _person_detail(tb, dependent, check)


def _trace(
    tb: TransactionBuilder, check: EligibilityCheck, event: Event, options: X12OutboundOptions
) -> None:
    """TRN*1: TRN02 the check's trace (else the event's reference), TRN03 the originator."""
    trace = check.trace_number or reference_id(event)
    tb.add("TRN", "1", fit(trace, 50), _originator(check, options))


def _originator(check: EligibilityCheck, options: X12OutboundOptions) -> str:
    """TRN03: ``1`` + the provider's EIN, else the configured one, else ``9`` + the sender
    id (ten positions, as the guide asks)."""
    if options.trace_originator:
        return options.trace_originator
    provider = check.provider
    tax = id_for(provider.identifiers if provider else [], ["EI"], options)
    digits = tax[1].replace("-", "") if tax else ""
    if len(digits) == 9 and digits.isdigit():
        return "1" + digits
    return "9" + fit(options.sender_id, 9).rjust(9, "0")


def _person_detail(tb: TransactionBuilder, person: ClaimParty, check: EligibilityCheck) -> None:
    dmg = dmg_elements(person, sex_required=False)
    if dmg is not None:
        tb.add("DMG", *dmg)
    if check.service_date is not None:
        tb.add("DTP", "291", "D8", format_date(check.service_date))
    for service_type in check.service_types or ["30"]:
        tb.add("EQ", service_type)
