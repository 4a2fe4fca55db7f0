"""``acknowledge``: check an interchange and render what answers it (TA1, 999, 997).

What is produced, from one verdict (see ``verdict.py`` and docs/x12.md):

* TA1 — when ISA14 asks for one, or when the envelope has errors (TA104 E or R).
* 999 (005010X231A1) — one per health-care functional group (GS01 in
  ``codes.HEALTH_CARE_GROUPS``), unless the interchange is rejected (TA104 R: its groups
  were not processed).
* 997 — the same answer for every other functional group (850, 855, 856, 810 …), in the
  inbound version. Functional acknowledgment groups (GS01 ``FA``) are never answered.

Control numbers of the answers come from ``next_control(kind)``; the duplicate-interchange
check from ``seen(sender_qualifier, sender_id, control_number)``. Both are injected — the
store implements them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.x12.builder import ControlAllocator
from adapters.x12.codec import parse
from adapters.x12.delimiters import ISA_LENGTH, isa_separator_offsets
from adapters.x12.guides import GuideRegistry
from adapters.x12.model import Interchange
from conformance.x12.check import check_interchange
from conformance.x12.codes import HEALTH_CARE_GROUPS
from conformance.x12.envelope import SeenControl
from conformance.x12.renderers import render_997, render_999, render_ta1
from conformance.x12.verdict import InterchangeVerdict, judge
from hub.findings import Report

__all__ = ["Acknowledgment", "acknowledge", "refuse_unreadable"]

#: an ISA used when nothing of the original can be read: a TA1 naming no interchange
_BLANK_ISA = (
    "ISA*00*          *00*          *ZZ*UNKNOWN        *ZZ*UNKNOWN        "
    "*000101*0000*^*00501*000000000*0*P*:~"
)


@dataclass(frozen=True, slots=True)
class Acknowledgment:
    """The answers to one interchange and the findings they render."""

    ta1: bytes | None
    ack_999: bytes | None
    ack_997: bytes | None
    report: Report
    verdict: InterchangeVerdict

    @property
    def accepted(self) -> bool:
        """True when the interchange and every functional group were accepted outright
        (TA104 A, every AK901 A)."""
        return self.verdict.code == "A" and all(g.code == "A" for g in self.verdict.groups)


def acknowledge(
    ic: Interchange,
    next_control: ControlAllocator,
    *,
    seen: SeenControl | None = None,
    registry: GuideRegistry | None = None,
    sender: tuple[str, str] | None = None,
    when: datetime | None = None,
    line_break: str = "",
    always_ta1: bool = False,
    report: Report | None = None,
) -> Acknowledgment:
    """Check ``ic`` and render its TA1 / 999 / 997 (each ``None`` when not due).

    Pass ``report`` to answer from findings already computed (the pipeline checks first and
    answers later); it must come from ``check_interchange`` on this same interchange.
    """
    if report is None:
        report = check_interchange(ic, seen=seen, registry=registry)
    verdict = judge(ic, report)
    opts = {"sender": sender, "when": when, "line_break": line_break}
    ta1 = None
    if always_ta1 or verdict.code != "A" or ic.isa.element(14) == "1":
        ta1 = render_ta1(verdict, next_control, **opts)  # type: ignore[arg-type]
    ack_999 = ack_997 = None
    if not verdict.rejected:
        health = [g for g in verdict.groups if g.group.functional_id in HEALTH_CARE_GROUPS]
        other = [
            g for g in verdict.groups if g.group.functional_id not in HEALTH_CARE_GROUPS | {"FA"}
        ]
        if health:
            ack_999 = render_999(verdict, health, next_control, **opts)  # type: ignore[arg-type]
        if other:
            ack_997 = render_997(verdict, other, next_control, **opts)  # type: ignore[arg-type]
    return Acknowledgment(ta1, ack_999, ack_997, report, verdict)


def refuse_unreadable(
    raw: bytes,
    next_control: ControlAllocator,
    *,
    sender: tuple[str, str] | None = None,
    when: datetime | None = None,
) -> bytes:
    """A TA1 rejecting input whose ISA cannot be read at all (the codec found no
    interchange): TA105 022 when there is no ISA, 023 when the input ends inside it, else
    026 (the separators are unusable — a letter, a blank, or not where X12.5 puts them).

    Nothing of input that is not X12 is echoed: only ISA13, read at its X12.5 fixed
    position, and only when it is nine digits (else zeros). The parties are ``UNKNOWN`` and
    TA102/TA103 zeros — the bytes at those positions could be anything, a secret included
    (docs/security.md, "The X12 inbox").
    """
    text = raw.decode("latin-1")
    start = text.find("ISA")
    if start < 0:
        note, head = "022", ""
    else:
        head = text[start : start + ISA_LENGTH]
        note = "023" if len(head) < ISA_LENGTH else "026"
    verdict = InterchangeVerdict(_salvaged(head), "R", note)
    return render_ta1(verdict, next_control, sender=sender, when=when)


def _salvaged(head: str) -> Interchange:
    """A blank interchange carrying only the ISA13 of a broken ISA (when it is 9 digits)."""
    at = isa_separator_offsets()[12] + 1
    control = head[at : at + 9]
    if not (len(control) == 9 and control.isascii() and control.isdigit()):
        control = "000000000"
    isa = _BLANK_ISA.replace("000000000", control)
    return parse(f"{isa}IEA*0*{control}~".encode()).interchanges[0]
