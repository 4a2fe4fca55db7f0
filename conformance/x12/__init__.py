"""X12 conformance: findings as data, and the TA1 / 999 / 997 rendered from them.

check_interchange(ic, seen=…) -> Report             (findings are X12Finding)
acknowledge(ic, next_control, seen=…) -> Acknowledgment(ta1, ack_999, ack_997, report)
judge(ic, report) -> InterchangeVerdict             render_ta1 / render_999 / render_997
"""

from conformance.x12.acknowledge import Acknowledgment, acknowledge, refuse_unreadable
from conformance.x12.check import check_interchange, check_transaction_set
from conformance.x12.envelope import SeenControl
from conformance.x12.findings import Level, X12Finding, x12_findings
from conformance.x12.renderers import render_997, render_999, render_ta1
from conformance.x12.verdict import InterchangeVerdict, judge

__all__ = [
    "Acknowledgment",
    "InterchangeVerdict",
    "Level",
    "SeenControl",
    "X12Finding",
    "acknowledge",
    "refuse_unreadable",
    "check_interchange",
    "check_transaction_set",
    "judge",
    "render_997",
    "render_999",
    "render_ta1",
    "x12_findings",
]
