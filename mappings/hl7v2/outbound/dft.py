"""charge.posted → DFT^P03 (DFT_P03 structure) or DFT^P11 (DFT_P11, when the destination's
``charge_trigger`` says so): one FT1 per message."""

from __future__ import annotations

from adapters.hl7v2 import Message
from hub.canonical import Charge, Diagnosis, Event
from hub.errors import MappingError

from .common import entity_of, new_message, ref_pid, write_evn
from .encode import Writer, add_segment
from .options import Hl7v2OutboundOptions

__all__ = ["DFT_TRIGGERS", "render_dft", "render_p03"]

#: the DFT triggers a charge can be rendered as, and their structures
DFT_TRIGGERS = {"P03": "DFT_P03", "P11": "DFT_P11"}


def render_dft(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """charge.posted as ``options.charge_trigger`` (P03, or P11)."""
    trigger = options.charge_trigger.upper()
    if trigger not in DFT_TRIGGERS:
        raise MappingError(
            f"charge_trigger {options.charge_trigger!r} is not P03 or P11",
            code="207",
            location="MSH-9.2",
        )
    return _render(event, options, trigger)


def render_p03(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """MSH, EVN, PID, [PV1], FT1, DG1*: the inverse of ``mappings.hl7v2.dft``. The charge's
    diagnoses go in DG1 (which carries their type and priority), not FT1-19. The same
    segments in this order are a valid DFT_P11 (PID, PV1, then a FINANCIAL group of FT1
    and its DG1s)."""
    return _render(event, options, "P03")


def _render(event: Event, options: Hl7v2OutboundOptions, trigger: str) -> Message:
    item = entity_of(event, Charge)
    if item.patient is None:
        raise MappingError("the charge names no patient", code="101", location="PID-3")
    msg, w = new_message(event, options, f"DFT^{trigger}", DFT_TRIGGERS[trigger])
    write_evn(msg, w, trigger, event)
    add_segment(msg, "PID", ref_pid(w, item.patient))
    if item.encounter is not None and item.encounter.identifiers:
        visit = w.reps(w.cx(i) for i in w.select(item.encounter.identifiers, "encounter"))
        # PV1-2 is required; a charge does not say the patient class: U (unknown)
        add_segment(msg, "PV1", {1: "1", 2: "U", 19: visit})
    add_segment(msg, "FT1", _ft1(w, item))
    for n, dx in enumerate(item.diagnoses, 1):
        add_segment(msg, "DG1", _dg1(w, dx, n))
    return msg


def _ft1(w: Writer, item: Charge) -> dict[int, str]:
    """FT1-2 id, FT1-4 transaction date (required: service, else posting date), FT1-5
    posting date, FT1-6 type (required: CG when unknown), FT1-7 and FT1-25 code (FT1-7
    required), FT1-8 description, FT1-10 quantity, FT1-11/12 amounts, FT1-13 department,
    FT1-14 plan, FT1-20/21 performed/ordered by, FT1-26 modifiers. FT1-8 is withdrawn in
    v2.6: the description then rides in FT1-7.2 only."""
    when = item.service_date or item.posted_date
    if when is None:
        raise MappingError(
            "the charge has no service or posting date", code="101", location="FT1-4"
        )
    if item.code is None:
        raise MappingError("the charge has no code", code="101", location="FT1-7")
    return {
        1: "1",
        2: w.e(item.transaction_id),
        4: w.dtm(when),
        5: w.dtm(item.posted_date),
        6: w.code("hl7_transaction_type", item.transaction_type)
        or w.e(item.transaction_type)
        or "CG",
        7: w.cwe(item.code),
        8: w.e(item.description) if not w.options.version_at_least(2, 6) else "",
        10: w.number(item.quantity),
        11: w.cp(item.amount),
        12: w.cp(item.unit_price),
        13: w.cwe(item.department),
        14: w.cwe(item.insurance_plan),
        20: w.reps(w.xcn(r) for r in item.performed_by),
        21: w.reps(w.xcn(r) for r in item.ordered_by),
        25: w.cwe(item.code),
        26: w.reps(w.e(m) for m in item.modifiers),
    }


def _dg1(w: Writer, dx: Diagnosis, n: int) -> dict[int, str]:
    """DG1-1 sequence, DG1-3 code, DG1-6 type (required: F, final, when the kind is not
    admitting/working/final), DG1-15 priority 1 for the principal diagnosis."""
    kind = w.code("hl7_diagnosis_type", dx.kind) or "F"
    return {
        1: str(dx.sequence or n),
        3: w.cwe(dx.code),
        6: kind,
        15: "1" if dx.kind == "principal" else "",
    }
