"""Check an interchange: envelope, then every transaction set against its guide table.

``check_interchange(ic) -> Report`` is the one entry point; the renderers (TA1, 999, 997)
read the same report. Nothing here raises on bad content — everything becomes a finding.
"""

from __future__ import annotations

from collections.abc import Iterator

from adapters.x12.guides import GuideRegistry, default_registry
from adapters.x12.loops import ROOT_ID, LoopTree, Placed
from adapters.x12.model import Interchange, TransactionSet
from conformance.x12.codes import HEALTH_CARE_GROUPS
from conformance.x12.elements import check_segment
from conformance.x12.envelope import (
    SeenControl,
    check_group,
    check_interchange_envelope,
    check_transaction_envelope,
)
from conformance.x12.findings import Level, X12Finding, error, info, warning
from hub.findings import Report

__all__ = ["check_interchange", "check_transaction_set"]

#: IK304 code → FHIR issue type
_SEGMENT_ISSUE = {
    "1": "structure",
    "2": "structure",
    "3": "required",
    "4": "structure",
    "5": "structure",
    "6": "not-supported",
    "7": "structure",
    "I4": "structure",
}
#: IK403 code → FHIR issue type
_ELEMENT_ISSUE = {
    "1": "required",
    "2": "required",
    "3": "structure",
    "4": "value",
    "5": "too-long",
    "6": "value",
    "7": "code-invalid",
    "8": "value",
    "9": "value",
    "10": "invariant",
    "12": "structure",
    "13": "structure",
    "I10": "structure",
    "I12": "value",
}


def check_interchange(
    ic: Interchange, *, seen: SeenControl | None = None, registry: GuideRegistry | None = None
) -> Report:
    """All findings for one interchange (envelope, groups, sets, segments, elements)."""
    registry = registry or default_registry()
    report = Report()
    report.findings.extend(check_interchange_envelope(ic, seen))
    group_controls: set[str] = set()
    for group in ic.groups:
        report.findings.extend(check_group(ic, group, group_controls))
        set_controls: set[str] = set()
        for ts in group.transaction_sets:
            report.findings.extend(
                check_transaction_envelope(ts, group.functional_id, set_controls)
            )
            report.findings.extend(check_transaction_set(ts, registry=registry))
            ts.release()  # its loop tree and split elements: a large file is not held twice
    return report


def check_transaction_set(
    ts: TransactionSet, *, registry: GuideRegistry | None = None
) -> list[X12Finding]:
    """Guide-table findings of one set: structure (IK3) and elements (IK4).

    Envelope checks of ST/SE are ``check_transaction_envelope``'s; this one only reads the
    set against the table found for ST01 + ST03/GS08.
    """
    registry = registry or default_registry()
    functional_id = ts.gs.element(1) if ts.gs is not None else ""
    where = {"interchange": ts.interchange_index, "group": ts.group_index, "transaction": ts.index}
    found = registry.resolve(ts.id, ts.version)
    if found is None:
        return [_unsupported(ts, functional_id, registry, where)]
    out: list[X12Finding] = []
    if found.how != "exact":
        out.append(
            info(
                Level.TRANSACTION,
                "informational",
                found.note or f"validated against {found.guide.id}",
                location="ST03",
                **where,
            )
        )
    tree = ts.tree(registry) if registry is not default_registry() else ts.tree()
    out.extend(_structure(tree, _ls_ids(tree.placed), where))
    out.extend(_elements(tree, _ls_ids(tree.placed), where))
    return out


def _unsupported(
    ts: TransactionSet, functional_id: str, registry: GuideRegistry, where: dict[str, int]
) -> X12Finding:
    text = f"no guide table for {ts.id} {ts.version}; content not validated"
    if functional_id not in HEALTH_CARE_GROUPS:
        return warning(Level.TRANSACTION, "not-supported", text, location="ST", **where)
    code = "I6" if registry.knows_set(ts.id) else "1"
    return error(
        Level.TRANSACTION,
        "not-supported",
        text,
        code,
        location="ST03" if code == "I6" else "ST01",
        **where,
    )


def _ls_ids(placed: list[Placed]) -> dict[int, str]:
    """Segment position → LS01 of the bounded loop around it (IK303)."""
    out: dict[int, str] = {}
    stack: list[str] = []
    for p in placed:
        if p.segment.id == "LE" and stack:
            stack.pop()
        if stack:
            out[p.position] = stack[-1]
        if p.segment.id == "LS":
            stack.append(p.segment.element(1))
    return out


def _structure(tree: LoopTree, ls: dict[int, str], where: dict[str, int]) -> Iterator[X12Finding]:
    for note in tree.notes:
        yield error(
            Level.SEGMENT,
            _SEGMENT_ISSUE.get(note.code, "structure"),
            note.text,
            note.code,
            location=_loc(note.loop_id, note.segment_id),
            segment_id=note.segment_id,
            position=note.position,
            loop_id=note.loop_id,
            ls_id=ls.get(note.position),
            **where,
        )


def _elements(tree: LoopTree, ls: dict[int, str], where: dict[str, int]) -> Iterator[X12Finding]:
    for p in tree.placed:
        if p.spec is None or p.segment.id in ("ST", "SE"):
            continue  # unplaced segments are reported by structure; ST/SE by the envelope
        for issue in check_segment(p.segment, p.spec):
            ref = f"{p.segment.id}{issue.element:02d}" + (
                f"-{issue.component}" if issue.component else ""
            )
            yield error(
                Level.ELEMENT,
                _ELEMENT_ISSUE.get(issue.code, "value"),
                issue.text,
                issue.code,
                location=_loc(p.loop_id, ref),
                segment_id=p.segment.id,
                position=p.position,
                loop_id=p.loop_id,
                ls_id=ls.get(p.position),
                element=issue.element,
                component=issue.component,
                repetition=issue.repetition,
                data_element=issue.data_element,
                value=issue.value,
                **where,
            )


def _loc(loop_id: str, ref: str) -> str:
    return ref if loop_id == ROOT_ID else f"{loop_id}/{ref}"
