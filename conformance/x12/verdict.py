"""From findings to acknowledgment codes: the TA104/TA105, AK9 and IK5 of an interchange.

One place decides accept/reject, so the TA1, the 999 and the 997 never disagree:

* a transaction set is rejected (IK501 ``R``) when it has any error finding at the
  transaction, segment or element level; its IK502 codes are the transaction-level codes,
  plus ``5`` when segments or elements are in error;
* a group is rejected (AK901 ``R``) on any group-level error or when all its sets are
  rejected, partially accepted (``P``) when some are; AK902 is GE01 when numeric;
* the interchange takes the worst disposition of its TA105 codes (``codes.TA1_DISPOSITION``);
  the note code reported is the first error with that disposition, ``000`` when none.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from adapters.x12.model import FunctionalGroup, Interchange, TransactionSet
from conformance.x12.codes import TA1_DISPOSITION
from conformance.x12.findings import Level, X12Finding, x12_findings
from hub.findings import Report

__all__ = ["GroupVerdict", "InterchangeVerdict", "TransactionVerdict", "judge"]

_RANK = {"A": 0, "E": 1, "R": 2}


@dataclass(slots=True)
class TransactionVerdict:
    ts: TransactionSet
    code: str = "A"
    syntax_codes: list[str] = field(default_factory=list)
    #: segment- and element-level findings, in segment position order
    details: list[X12Finding] = field(default_factory=list)


@dataclass(slots=True)
class GroupVerdict:
    group: FunctionalGroup
    code: str = "A"
    syntax_codes: list[str] = field(default_factory=list)
    transactions: list[TransactionVerdict] = field(default_factory=list)

    @property
    def received(self) -> int:
        return len(self.transactions)

    @property
    def accepted(self) -> int:
        return sum(1 for t in self.transactions if t.code in ("A", "E"))

    @property
    def included(self) -> str:
        """AK902: GE01 when it is a number, else the count received."""
        ge01 = self.group.ge.element(1) if self.group.ge is not None else ""
        return ge01 if ge01.isdigit() and len(ge01) <= 6 else str(self.received)


@dataclass(slots=True)
class InterchangeVerdict:
    interchange: Interchange
    code: str = "A"
    note: str = "000"
    groups: list[GroupVerdict] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.code == "R"


def judge(ic: Interchange, report: Report) -> InterchangeVerdict:
    """The acknowledgment codes the report's findings give ``ic``."""
    findings = [f for f in x12_findings(report) if f.interchange == ic.index and f.is_error]
    by_group: dict[int | None, list[X12Finding]] = defaultdict(list)
    for f in findings:
        by_group[f.group].append(f)
    verdict = _interchange(ic, [f for f in findings if f.level == Level.INTERCHANGE])
    for group in ic.groups:
        verdict.groups.append(_group(group, by_group.get(group.index, [])))
    return verdict


def _interchange(ic: Interchange, errors: list[X12Finding]) -> InterchangeVerdict:
    verdict = InterchangeVerdict(ic)
    for f in errors:
        disposition = TA1_DISPOSITION.get(f.format_code or "", "R")
        if _RANK[disposition] > _RANK[verdict.code]:
            verdict.code, verdict.note = disposition, f.format_code or "024"
    return verdict


def _group(group: FunctionalGroup, errors: list[X12Finding]) -> GroupVerdict:
    verdict = GroupVerdict(group)
    per_set: dict[int | None, list[X12Finding]] = defaultdict(list)
    for f in errors:
        if f.level == Level.GROUP:
            verdict.code = "R"
            if f.format_code and f.format_code not in verdict.syntax_codes:
                verdict.syntax_codes.append(f.format_code)
        elif f.level != Level.INTERCHANGE:
            per_set[f.transaction].append(f)
    for ts in group.transaction_sets:
        verdict.transactions.append(_transaction(ts, per_set.get(ts.index, [])))
    rejected = verdict.received - verdict.accepted
    if verdict.code != "R" and rejected:
        verdict.code = "R" if rejected == verdict.received else "P"
    return verdict


def _transaction(ts: TransactionSet, errors: list[X12Finding]) -> TransactionVerdict:
    verdict = TransactionVerdict(ts)
    for f in errors:
        verdict.code = "R"
        if f.level == Level.TRANSACTION:
            if f.format_code and f.format_code not in verdict.syntax_codes:
                verdict.syntax_codes.append(f.format_code)
        else:
            verdict.details.append(f)
    if verdict.details and "5" not in verdict.syntax_codes:
        verdict.syntax_codes.append("5")
    verdict.details.sort(
        key=lambda f: (f.position or 0, f.level != Level.SEGMENT, f.element or 0, f.component or 0)
    )
    return verdict
