"""The envelope carries no attempt count (the broker's delivery does); old bodies still read."""

from __future__ import annotations

import json

from hub.envelope import Envelope
from tests.queues.queues_testkit import make_envelope


def test_an_envelope_written_with_an_attempt_field_still_reads() -> None:
    env = make_envelope()
    assert b'"attempt"' not in env.to_bytes()
    legacy = {**json.loads(env.to_bytes()), "attempt": 0}
    assert Envelope.from_bytes(json.dumps(legacy).encode()) == env
