"""Acknowledgement modes as HL7 table 0155 says, over a real socket: every MSH-15 × MSH-16
pair (empty, a blank, AL, NE, ER, SU), each with a message that is accepted, one with a
content error and one that is rejected — and the exact frames the sender reads for it.

The frames of one message are told from the next by a probe: an original-mode message sent
after it on the same connection. The hub answers a connection in order, so every frame
before the probe's ACK answers the message under test, and "no frame" is seen without
waiting for a timeout.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from hub.config import parse_config
from tests.e2e.test_adt_to_fhir import A04

CONFIG = """
hub: {namespace: ackmodes}
systems:
  ehr:
    inbound: [{type: mllp, port: 0}]
    identifiers: {patient: GOODHEALTH}
"""

VALUES = ["", " ", "AL", "NE", "ER", "SU"]
#: what the message under test is made to be: MSA-1 of its original-mode ACK
OUTCOMES = {"accepted": "AA", "content-error": "AE", "rejected": "AR"}
_ids = itertools.count(1)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    cfg = parse_config(CONFIG).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
    async with Hub(cfg) as h:
        yield h


def message(outcome: str, msh15: str, msh16: str, control: str) -> bytes:
    """The A04 (accepted), with an impossible birth date (AE), or of a message type the hub
    does not take (AR 200), with MSH-15/16 as given and its own MSH-10."""
    raw = A04.replace(b"|P|2.5.1\r", f"|P|2.5.1|||{msh15}|{msh16}\r".encode())
    raw = raw.replace(b"MSG-A04-0001", control.encode())
    if outcome == "content-error":
        raw = raw.replace(b"|19850214|", b"|19851314|")
    elif outcome == "rejected":
        raw = raw.replace(b"ADT^A04^ADT_A01", b"ZZQ^Z99")
    return raw


def expected(msh15: str, msh16: str, outcome: str) -> list[str]:
    """MSA-1 of each frame, by HL7 v2.5 §2.9 and table 0155 (an empty or blank value is
    empty; in enhanced mode an empty condition is AL)."""
    accept_ack, app_ack = msh15.strip(), msh16.strip()
    if not accept_ack and not app_ack:
        return [OUTCOMES[outcome]]  # original mode: exactly one ACK

    def wanted(condition: str, success: bool) -> bool:
        return {"NE": False, "ER": not success, "SU": success}.get(condition or "AL", True)

    committed = outcome != "rejected"
    frames = []
    if wanted(accept_ack, committed):
        frames.append("CA" if committed else "CR")
    if committed:
        applied = outcome == "accepted"
        if wanted(app_ack, applied):
            frames.append("AA" if applied else "AE")
    elif not frames and wanted(app_ack, False):
        # not committed and no accept ack: the application ack is the answer (AR)
        frames.append("AR")
    return frames


async def frames_for(client: MllpClient, raw: bytes, control: str) -> list[tuple[str, str]]:
    """(MSA-1, MSA-2) of every frame the sender reads before the probe's ACK."""
    probe = f"PROBE-{next(_ids)}"
    await client.write(raw)
    await client.write(message("accepted", "", "", probe))
    seen: list[tuple[str, str]] = []
    while True:
        ack = parse(await client.read(within=10))
        if ack["MSA-2"] == probe:
            assert ack["MSA-1"] == "AA"
            return seen
        assert ack["MSA-2"] == control, "a frame answering neither message"
        seen.append((ack["MSA-1"], ack["MSA-2"]))


@pytest.mark.parametrize("msh16", VALUES, ids=lambda v: f"MSH16={v.strip() or repr(v)}")
@pytest.mark.parametrize("msh15", VALUES, ids=lambda v: f"MSH15={v.strip() or repr(v)}")
async def test_the_frames_a_sender_reads(hub: Hub, msh15: str, msh16: str):
    assert hub.inbound is not None
    port = int(hub.inbound.find("ehr").server.port)
    async with MllpClient("127.0.0.1", port, timeout=10) as client:
        for outcome in OUTCOMES:
            control = f"M{next(_ids)}"
            raw = message(outcome, msh15, msh16, control)
            codes = [code for code, _ in await frames_for(client, raw, control)]
            assert codes == expected(msh15, msh16, outcome), outcome
            # never two accept acks, never two application acks for one message
            assert sum(c in ("CA", "CE", "CR") for c in codes) <= 1
            assert sum(c in ("AA", "AE", "AR") for c in codes) <= 1
