"""``claim.submitted`` → 837P (005010X222A1) or 837I (005010X223A2), one claim per
interchange (ISA/GS/ST … SE/GE/IEA).

Loops written: 1000A submitter and 1000B receiver (from the options); 2000A/2010AA billing
provider (NPI, address, EIN or SSN; on an 837P its licence REF*0B and UPIN REF*1G); 2000B
SBR + 2010BA subscriber + 2010BB payer (with the billing provider's payer-assigned ids,
REF*G2/LU); 2000C/2010CA when the patient is not the subscriber; 2300 CLM, DTP, REF, HI
(principal first); 2310 rendering, referring, service facility; 2400 per line (837P SV1
with diagnosis pointers, 837I SV2), DTP*472, REF*6R, 2410 NDC.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from adapters.x12 import Interchange
from adapters.x12.builder import TransactionBuilder
from hub.canonical import (
    Claim,
    ClaimKind,
    ClaimParty,
    Diagnosis,
    Event,
    Identifier,
    Period,
    ServiceLine,
)
from hub.errors import MappingError
from mappings.vocab import VocabularyTables, builtin_tables

from ..claim_837 import CPT_SYSTEM
from ..values import format_date, format_decimal, icd_to_x12
from .common import (
    address_segments,
    dmg_elements,
    fit,
    guide_pattern,
    id_for,
    interchange,
    money,
    name_elements,
    per_segment,
    reference_id,
    required,
)
from .options import X12OutboundOptions

__all__ = ["diagnosis_order", "render_claim"]

_BUILTIN = VocabularyTables(builtin_tables())
#: 2010BA REF*SY: nine digits (a malformed SSN is not written)
_SSN = re.compile(r"[0-9]{9}")
_ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
_ICD9 = "http://hl7.org/fhir/sid/icd-9-cm"
#: canonical diagnosis kind → (ICD-10 qualifier, ICD-9 qualifier) of its 837I HI segment
_INSTITUTIONAL_HI = {
    "principal": ("ABK", "BK"),
    "admitting": ("ABJ", "BJ"),
    "reason-for-visit": ("APR", "PR"),
    "external-cause": ("ABN", "BN"),
    "other": ("ABF", "BF"),
}
#: provider loops' secondary id qualifiers (REF01), by NM101
_SECONDARY_IDS = {
    "DN": ("0B", "1G", "G2"),
    "82": ("0B", "1G", "G2", "LU"),
    "77": ("0B", "G2", "LU"),
}
#: 837P 2010AA REF01 of the billing provider's licence and UPIN (X222A1, max use 2)
_BILLING_LICENSES = ("0B", "1G")
#: X223A2 HI composites per kind (principal and admitting: HI01 only; others 2 × 12)
_HI_LIMITS = {
    "principal": 1,
    "admitting": 1,
    "reason-for-visit": 3,
    "external-cause": 12,
    "other": 24,
}
#: 837I PAT01/SBR02-like codes valid in 5010 2000C PAT01
_PAT01 = frozenset({"01", "19", "20", "21", "39", "40", "53", "G8"})


class _Writer:
    """One claim being written: the claim, its kind's guide and the destination."""

    def __init__(self, claim: Claim, options: X12OutboundOptions) -> None:
        self.claim = claim
        self.options = options
        self.kind = claim.kind
        self.professional = claim.kind is ClaimKind.PROFESSIONAL
        self.order = diagnosis_order(claim.diagnoses)

    # ------------------------------------------------------------------ header

    def header(self, tb: TransactionBuilder, event: Event) -> None:
        """BHT (0019 original, CH chargeable), 1000A submitter + PER, 1000B receiver."""
        created = self.claim.created or self.options.clock()
        tb.add(
            "BHT",
            "0019",
            "00",
            reference_id(event),
            format_date(created),
            created.strftime("%H%M"),
            "CH",
        )
        opts = self.options
        tb.add(
            "NM1",
            "41",
            "2",
            fit(opts.submitter_name, 60),
            "",
            "",
            "",
            "",
            "46",
            opts.submitter_id or opts.sender_id,
        )
        present: list[str] = []
        for qualifier, number in (("TE", opts.submitter_phone), ("EM", opts.submitter_email)):
            if number:
                present += [qualifier, number]
        if not present:
            raise MappingError(
                "1000A PER needs a submitter phone or email (X12OutboundOptions)",
                code="required",
                location="1000A/PER04",
            )
        tb.add("PER", "IC", fit(opts.submitter_contact, 60), *present)
        receiver = required(
            opts.receiver_name, "1000B/NM103", "the receiver name (X12OutboundOptions)"
        )
        tb.add("NM1", "40", "2", fit(receiver, 60), "", "", "", "", "46", opts.receiver_id)

    # ------------------------------------------------------------------ 2000A/2010AA

    def billing(self, tb: TransactionBuilder) -> None:
        """2000A HL*20; 2010AA NM1*85 (NPI required), N3/N4, REF*EI (else SY) tax id, PER."""
        party = self.claim.billing_provider
        if party is None:
            raise MappingError(
                "a claim needs its billing provider", code="required", location="2010AA"
            )
        tb.add("HL", "1", "", "20", "1")
        npi = self._id(party.identifiers, ["XX"], "2010AA/NM109", "the billing provider's NPI")
        names = name_elements(party)
        if not self.professional:
            # an institutional billing provider is a facility: NM102 = 2 (X223A2), the
            # person's name (if that is all there is) written as the organization's
            names = ["2", fit(party.organization_name or _display(party), 60), "", "", "", ""]
        tb.add("NM1", "85", *names, *npi)
        version = (
            self.options.professional_version
            if self.professional
            else self.options.institutional_version
        )
        postal = guide_pattern("837", version, "2010AA", "N403")
        address_segments(tb, party.address, "2010AA", postal=postal)
        tax = id_for(party.identifiers, ["EI", "SY"], self.options)
        if tax is None:
            raise MappingError(
                "the billing provider's tax id (EIN or SSN) is required",
                code="required",
                location="2010AA/REF02",
            )
        tb.add("REF", tax[0], tax[1].replace("-", ""))
        if self.professional:
            # X222A1 2010AA REF "UPIN/License Information" (max 2): a state licence (0B)
            # and a UPIN (1G); X223A2 has no such segment in 2010AA
            for qualifier in _BILLING_LICENSES:
                found = id_for(party.identifiers, [qualifier], self.options)
                if found is not None:
                    tb.add("REF", qualifier, fit(found[1], 50))
        per_segment(tb, party.telecom)

    # ------------------------------------------------------------------ 2000B

    def subscriber(self, tb: TransactionBuilder) -> None:
        """2000B HL*22 + SBR; 2010BA NM1*IL with the member id (MI), N3/N4, DMG; 2010BB
        NM1*PR with the payer id (PI or XV), N3/N4, REF*G2/LU billing provider ids."""
        claim = self.claim
        sub = claim.subscriber
        if sub is None:
            raise MappingError("a claim needs its subscriber", code="required", location="2010BA")
        tb.add("HL", "2", "1", "22", "0" if self.patient_is_subscriber else "1")
        self._sbr(tb)
        member = claim.member_id or next((i.value for i in sub.identifiers if i.type == "MB"), None)
        tb.add(
            "NM1",
            "IL",
            *name_elements(sub, person=True),
            "MI",
            required(member, "2010BA/NM109", "the member id"),
        )
        if sub.address is not None:
            address_segments(tb, sub.address, "2010BA", street_required=False)
        dmg = dmg_elements(sub)
        if dmg is not None:
            tb.add("DMG", *dmg)
        ssn = id_for(sub.identifiers, ["SY"], self.options)
        if ssn is not None and _SSN.fullmatch(ssn[1].replace("-", "")):
            tb.add("REF", "SY", ssn[1].replace("-", ""))
        if self.professional and self.patient_is_subscriber:
            per_segment(tb, sub.telecom)
        self._payer(tb)

    @property
    def patient_is_subscriber(self) -> bool:
        rel = self.claim.patient.relationship if self.claim.patient else None
        return self.claim.patient is None or (rel is not None and rel.code == "self")

    def _sbr(self, tb: TransactionBuilder) -> None:
        """SBR01 P (the claim is sent to its payer), SBR02 18 when the subscriber is the
        patient, SBR03 group number, SBR09 the destination's claim filing indicator."""
        tb.add(
            "SBR",
            "P",
            "18" if self.patient_is_subscriber else "",
            fit(self.claim.group_number, 50),
            "",
            "",
            "",
            "",
            "",
            self.options.claim_filing_indicator or "",
        )

    def _payer(self, tb: TransactionBuilder) -> None:
        payer = self.claim.payer
        if payer is None:
            raise MappingError("a claim needs its payer", code="required", location="2010BB")
        payer_id = self._id(payer.identifiers, ["PI", "XV"], "2010BB/NM109", "the payer id")
        tb.add(
            "NM1",
            "PR",
            "2",
            fit(payer.organization_name or _display(payer), 60),
            "",
            "",
            "",
            "",
            *payer_id,
        )
        if payer.address is not None:
            address_segments(tb, payer.address, "2010BB", street_required=False)
        billing = self.claim.billing_provider
        for qualifier in ("G2", "LU"):
            found = id_for(billing.identifiers if billing else [], [qualifier], self.options)
            if found is not None:
                tb.add("REF", qualifier, found[1])

    # ------------------------------------------------------------------ 2000C

    def patient(self, tb: TransactionBuilder) -> None:
        """2000C HL*23 + PAT01; 2010CA NM1*QC, N3/N4, DMG (all required there)."""
        patient = self.claim.patient
        if self.patient_is_subscriber or patient is None:
            return
        tb.add("HL", "3", "2", "23", "0")
        code = _BUILTIN.reverse(
            "x12_relationship", patient.relationship.code if patient.relationship else None
        )
        tb.add("PAT", code if code in _PAT01 else "G8")
        tb.add("NM1", "QC", *name_elements(patient, person=True))
        address_segments(tb, patient.address, "2010CA")
        dmg = dmg_elements(patient)
        if dmg is None:
            raise MappingError(
                "the patient's birth date is required", code="required", location="2010CA/DMG02"
            )
        tb.add("DMG", *dmg)
        if self.professional:
            per_segment(tb, patient.telecom)

    # ------------------------------------------------------------------ 2300

    def claim_info(self, tb: TransactionBuilder) -> None:
        """CLM; DTP*434 statement dates (837I) / DTP*435 admission; CL1 (837I); REF*G1
        prior authorization, REF*F8 payer claim control number, REF*EA medical record
        number; HI."""
        claim, opts = self.claim, self.options
        pcn = required(claim.patient_control_number, "2300/CLM01", "the patient control number")
        facility = required(
            claim.place_of_service, "2300/CLM05-1", "the place of service / facility code"
        )
        clm05 = [facility, "B" if self.professional else "A", claim.frequency_code or "1"]
        signature = opts.signature_on_file if self.professional else ""
        tb.add(
            "CLM",
            fit(pcn, 38),
            money(claim.total_charge, "2300/CLM02") or "0",
            "",
            "",
            clm05,
            signature,
            opts.assignment,
            opts.benefits_assigned,
            opts.release_of_information,
        )
        self._dates(tb)
        if not self.professional:
            status = required(
                opts.patient_status,
                "2300/CL103",
                "the patient status code (X12OutboundOptions.patient_status)",
            )
            tb.add("CL1", "", "", status)
        self._refs(tb)
        self._hi(tb)

    def _dates(self, tb: TransactionBuilder) -> None:
        claim = self.claim
        if not self.professional:
            period = claim.service_period or _span(claim.service_lines)
            if period is None:
                raise MappingError(
                    "837I statement dates are required", code="required", location="2300/DTP*434"
                )
            tb.add("DTP", "434", "RD8", _rd8(period, "2300/DTP03"))
        if claim.admission_date is not None:
            when = claim.admission_date
            if self.professional:
                tb.add("DTP", "435", "D8", format_date(when))
            else:
                tb.add("DTP", "435", "DT", when.strftime("%Y%m%d%H%M"))

    def _refs(self, tb: TransactionBuilder) -> None:
        claim = self.claim
        if claim.prior_authorization:
            tb.add("REF", "G1", fit(claim.prior_authorization, 50))
        if claim.payer_claim_control_number:
            tb.add("REF", "F8", fit(claim.payer_claim_control_number, 50))
        patient = claim.patient
        mrn = (
            next((i.value for i in patient.identifiers if i.type == "MR"), None)
            if patient
            else None
        )
        if mrn:
            tb.add("REF", "EA", fit(mrn, 50))

    def _hi(self, tb: TransactionBuilder) -> None:
        """837P: one HI, principal first (ABK/BK), the others ABF/BF (12 at most). 837I:
        HI per kind — principal, admitting, reason for visit, external cause, others —
        with the present-on-admission indicator in HI0x-9."""
        if not self.order:
            raise MappingError(
                "a claim needs a principal diagnosis", code="required", location="2300/HI01"
            )
        if self.professional:
            comps = [
                _hi_composite(d, "principal" if n == 0 else "other")
                for n, d in enumerate(self.order[:12])
            ]
            tb.add("HI", *comps)
            return
        by_kind: dict[str, list[list[str]]] = {}
        for n, diagnosis in enumerate(self.order):
            kind = "principal" if n == 0 else _institutional_kind(diagnosis)
            comp = _hi_composite(diagnosis, kind)
            if diagnosis.present_on_admission and kind in ("principal", "other"):
                comp += ["", "", "", "", "", "", diagnosis.present_on_admission]
            by_kind.setdefault(kind, []).append(comp)
        for kind, limit in _HI_LIMITS.items():
            comps = by_kind.get(kind, [])[:limit]
            for start in range(0, len(comps), 12):
                tb.add("HI", *comps[start : start + 12])

    # ------------------------------------------------------------------ 2310

    def providers(self, tb: TransactionBuilder) -> None:
        """837P: 2310A referring (DN), 2310B rendering (82), 2310C facility (77); 837I:
        2310D rendering, 2310E facility, 2310F referring — in each guide's order."""
        claim = self.claim
        order = (
            [
                ("DN", claim.referring_provider),
                ("82", claim.rendering_provider),
                ("77", claim.service_facility),
            ]
            if self.professional
            else [
                ("82", claim.rendering_provider),
                ("77", claim.service_facility),
                ("DN", claim.referring_provider),
            ]
        )
        for entity, party in order:
            if party is not None:
                self._provider(tb, entity, party)

    def _provider(self, tb: TransactionBuilder, entity: str, party: ClaimParty) -> None:
        npi = id_for(party.identifiers, ["XX"], self.options)
        names = name_elements(party)
        if entity == "77":
            # a service facility is a location: always a non-person entity (NM102 = 2)
            names = ["2", fit(party.organization_name or _display(party), 60), "", "", "", ""]
        tb.add("NM1", entity, *names, *(npi or ("", "")))
        if entity == "77":
            address_segments(tb, party.address, "2310C" if self.professional else "2310E")
        for qualifier in _SECONDARY_IDS[entity]:
            found = id_for(party.identifiers, [qualifier], self.options)
            if found is not None:
                tb.add("REF", qualifier, fit(found[1], 50))
        if entity == "77" and self.professional:
            per_segment(tb, party.telecom)

    # ------------------------------------------------------------------ 2400

    def lines(self, tb: TransactionBuilder) -> None:
        if not self.claim.service_lines:
            raise MappingError(
                "a claim needs at least one service line", code="required", location="2400"
            )
        for n, line in enumerate(self.claim.service_lines, 1):
            self._line(tb, n, line)

    def _line(self, tb: TransactionBuilder, n: int, line: ServiceLine) -> None:
        """LX; SV1 or SV2; DTP*472 (D8, or RD8 for a period); REF*6R; 2410 LIN/CTP."""
        where = f"2400[{n}]"
        tb.add("LX", str(n))
        if self.professional:
            self._sv1(tb, line, where)
        else:
            self._sv2(tb, line, where)
        self._line_date(tb, line, where)
        if line.line_control_number:
            tb.add("REF", "6R", fit(line.line_control_number, 50))
        if line.ndc:
            # the canonical line keeps no drug quantity: the service units stand for it
            tb.add("LIN", "", "N4", line.ndc.replace("-", ""))
            tb.add(
                "CTP",
                "",
                "",
                "",
                format_decimal(line.units or Decimal(1)),
                [line.unit_type or "UN"],
            )

    def _procedure(self, line: ServiceLine, where: str) -> list[str]:
        proc = line.procedure
        if proc is None or not proc.code:
            return []
        qualifier = _procedure_qualifier(proc.system)
        return [qualifier, proc.code, *line.modifiers[:4]]

    def _sv1(self, tb: TransactionBuilder, line: ServiceLine, where: str) -> None:
        """SV101 procedure (HC and modifiers), SV102 charge, SV103 unit, SV104 units,
        SV105 place of service (when it differs from CLM05-1), SV107 pointers (the
        principal diagnosis when the line names none)."""
        proc = self._procedure(line, where)
        if not proc:
            raise MappingError(
                "an 837P line needs a procedure code", code="required", location=f"{where}/SV101"
            )
        pointers = [str(p) for p in self._pointers(line)]
        tb.add(
            "SV1",
            proc,
            money(line.charge, f"{where}/SV102") or "0",
            line.unit_type or "UN",
            format_decimal(line.units or Decimal(1)),
            line.place_of_service or "",
            "",
            pointers,
        )

    def _pointers(self, line: ServiceLine) -> list[int]:
        """Canonical pointers name Diagnosis.sequence; the 837 names HI positions."""
        position = {
            d.sequence: n for n, d in enumerate(self.order[:12], 1) if d.sequence is not None
        }
        mapped = [position[p] for p in line.diagnosis_pointers if p in position]
        return mapped[:4] or [1]

    def _sv2(self, tb: TransactionBuilder, line: ServiceLine, where: str) -> None:
        """SV201 revenue code, SV202 procedure, SV203 charge, SV204 unit, SV205 units."""
        revenue = required(line.revenue_code, f"{where}/SV201", "the revenue code")
        tb.add(
            "SV2",
            revenue,
            self._procedure(line, where),
            money(line.charge, f"{where}/SV203") or "0",
            line.unit_type or "UN",
            format_decimal(line.units or Decimal(1)),
        )

    def _line_date(self, tb: TransactionBuilder, line: ServiceLine, where: str) -> None:
        if line.service_period is not None:
            tb.add("DTP", "472", "RD8", _rd8(line.service_period, f"{where}/DTP03"))
        elif line.service_date is not None:
            tb.add("DTP", "472", "D8", format_date(line.service_date))
        elif self.professional:
            period = self.claim.service_period
            start = period.start if period else None
            if start is None:
                raise MappingError(
                    "an 837P line needs its service date",
                    code="required",
                    location=f"{where}/DTP03",
                )
            tb.add("DTP", "472", "D8", format_date(start))

    def _id(
        self, idents: list[Identifier], qualifiers: list[str], location: str, what: str
    ) -> tuple[str, str]:
        found = id_for(idents, qualifiers, self.options)
        if found is None:
            raise MappingError(
                f"{what} is required and the event has none", code="required", location=location
            )
        return found


def render_claim(event: Event, options: X12OutboundOptions) -> Interchange:
    """The 837 interchange for a ``claim.submitted`` event (837I when the claim's kind is
    institutional). Raises ``MappingError`` naming the loop/element for what the event
    lacks and the guide requires."""
    claim = event.entity
    if not isinstance(claim, Claim):
        raise MappingError(
            "claim.submitted carries a Claim", code="invalid", location="event.entity"
        )
    if claim.kind not in (ClaimKind.PROFESSIONAL, ClaimKind.INSTITUTIONAL):
        raise MappingError(
            f"{claim.kind.value} claims are not rendered as X12",
            code="not-supported",
            location="Claim.kind",
        )
    professional = claim.kind is ClaimKind.PROFESSIONAL
    version = options.professional_version if professional else options.institutional_version
    writer = _Writer(claim, options)
    builder = interchange(options)
    tb = builder.group("HC", version, options.gs_sender, options.gs_receiver).transaction(
        "837", version
    )
    writer.header(tb, event)
    writer.billing(tb)
    writer.subscriber(tb)
    writer.patient(tb)
    writer.claim_info(tb)
    writer.providers(tb)
    writer.lines(tb)
    return builder.build()


# --------------------------------------------------------------------------- helpers


def diagnosis_order(diagnoses: list[Diagnosis]) -> list[Diagnosis]:
    """The principal diagnosis first (else the first one), the others in sequence order."""
    ordered = sorted(diagnoses, key=lambda d: (d.sequence is None, d.sequence or 0))
    principal = next((d for d in ordered if d.kind == "principal"), ordered[0] if ordered else None)
    return [principal, *(d for d in ordered if d is not principal)] if principal else []


def _institutional_kind(diagnosis: Diagnosis) -> str:
    kind = diagnosis.kind or "other"
    return kind if kind in _INSTITUTIONAL_HI and kind != "principal" else "other"


def _hi_composite(diagnosis: Diagnosis, kind: str) -> list[str]:
    code = diagnosis.code.code
    if not code:
        raise MappingError("a diagnosis without a code", code="required", location="2300/HI")
    icd10, icd9 = _INSTITUTIONAL_HI[kind]
    return [icd9 if diagnosis.code.system == _ICD9 else icd10, icd_to_x12(code)]


def _procedure_qualifier(system: str | None) -> str:
    """SV101-1 / SV202-1 from the code system (``x12_procedure_system`` reversed; CPT and
    HCPCS are both HC)."""
    if system in (None, CPT_SYSTEM):
        return "HC"
    if system.startswith("urn:carehub:x12:procedure:"):
        return system.rsplit(":", 1)[1]
    return _BUILTIN.reverse("x12_procedure_system", system) or "HC"


def _rd8(period: Period, location: str) -> str:
    start, end = period.start, period.end or period.start
    if start is None or end is None:
        raise MappingError("a date range needs its start", code="required", location=location)
    return f"{format_date(start)}-{format_date(end)}"


def _span(lines: list[ServiceLine]) -> Period | None:
    days: list[date | datetime] = []
    for line in lines:
        if line.service_period is not None:
            days += [d for d in (line.service_period.start, line.service_period.end) if d]
        elif line.service_date is not None:
            days.append(line.service_date)
    return Period(start=min(days), end=max(days)) if days else None


def _display(party: ClaimParty) -> str:
    if party.name is not None:
        return " ".join(p for p in (party.name.family, *party.name.given) if p)
    return ""
