"""What the pipeline asks of a format beyond ``InboundFormat``, by protocol, not by name."""

from __future__ import annotations

from carehub.app.hl7v2 import Hl7v2Inbound
from carehub.app.x12 import X12Inbound
from hub.pipeline import AnswersDuplicates, FollowsUp


def test_hl7v2_repeats_the_original_answer_and_follows_up_in_enhanced_mode():
    fmt = Hl7v2Inbound()
    assert isinstance(fmt, FollowsUp) and not isinstance(fmt, AnswersDuplicates)


def test_x12_answers_a_duplicate_itself_and_follows_up_with_its_further_acks():
    fmt = X12Inbound(store=None, partner="payer")  # type: ignore[arg-type]
    assert isinstance(fmt, FollowsUp) and isinstance(fmt, AnswersDuplicates)
