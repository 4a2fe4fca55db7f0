"""The acknowledgement rules over real sockets, through the whole hub (embedded transport):
AR for what cannot be read or is not supported, AE for content errors, enhanced mode's CA
then AA — the message kept in every case."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.cli import cli
from hub.config import parse_config
from tests.e2e.test_adt_to_fhir import A04

CONFIG = """
hub: {namespace: acks}
systems:
  ehr:
    inbound: [{type: mllp, port: 0}]
    identifiers: {patient: GOODHEALTH}
"""

ORM = (  # an order: not mapped (ORU^R01 is, since issue 12)
    b"MSH|^~\\&|LAB|GOODHEALTH|CAREHUB|HUB|20261128||ORM^O01^ORM_O01|LAB-1|P|2.5.1\r"
    b"PID|1||4455667^^^GOODHEALTH^MR||Okonkwo^Chidinma\rORC|NW\rOBR|1\r"
)
BAD_DATE = A04.replace(b"|19850214|", b"|19851314|").replace(b"MSG-A04-0001", b"MSG-BAD-1")
ENHANCED = A04.replace(b"|P|2.5.1\r", b"|P|2.5.1|||AL|AL\r").replace(b"MSG-A04-0001", b"ENH-1")
OLD_VERSION = A04.replace(b"|P|2.5.1\r", b"|P|9.9\r").replace(b"MSG-A04-0001", b"V99")


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    cfg = parse_config(CONFIG).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
    async with Hub(cfg) as h:
        yield h


def port_of(hub: Hub) -> int:
    assert hub.inbound is not None
    return int(hub.inbound.find("ehr").server.port)


async def exchange(hub: Hub, frame: bytes) -> object:
    async with MllpClient("127.0.0.1", port_of(hub), timeout=10) as client:
        return parse(await client.send(frame))


async def status_of(hub: Hub, raw: bytes) -> str:
    assert hub.store is not None
    rows = await hub.store.list_messages(direction="in")
    return next(m.status for m in rows if m.raw == raw)


async def test_unsupported_type_gets_ar_200_201_and_is_kept(hub: Hub):
    ack = await exchange(hub, ORM)
    assert ack["MSA-1"] == "AR" and ack["MSA-2"] == "LAB-1"
    assert ack["ERR-3.1"] in ("200", "201")
    assert await status_of(hub, ORM) == "unsupported"


async def test_unsupported_version_gets_ar_203(hub: Hub):
    ack = await exchange(hub, OLD_VERSION)
    assert ack["MSA-1"] == "AR" and ack["ERR-3.1"] == "203"


async def test_content_error_gets_ae_naming_the_field_and_is_kept(hub: Hub):
    ack = await exchange(hub, BAD_DATE)
    assert ack["MSA-1"] == "AE" and ack["MSA-2"] == "MSG-BAD-1"
    assert ack["ERR-2.1"] == "PID" and ack["ERR-2.3"] == "7"
    assert await status_of(hub, BAD_DATE) == "error"


async def test_garbage_frame_gets_ar_and_is_kept(hub: Hub):
    junk = b"this is not HL7 at all"
    ack = await exchange(hub, junk)
    assert ack["MSA-1"] == "AR" and ack["ERR-3.1"] == "100"
    assert await status_of(hub, junk) == "rejected"


async def test_enhanced_mode_sends_ca_then_aa_on_the_connection(hub: Hub):
    async with MllpClient("127.0.0.1", port_of(hub), timeout=10) as client:
        accept = parse(await client.send(ENHANCED))
        application = parse(await client.read(within=5))
    assert accept["MSA-1"] == "CA" and accept["MSA-2"] == "ENH-1"
    assert application["MSA-1"] == "AA" and application["MSA-2"] == "ENH-1"


async def test_carehub_send_prints_each_ack(hub: Hub, tmp_path: Path):
    both = tmp_path / "two.hl7"
    both.write_bytes(A04 + ORM)
    port = port_of(hub)
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["send", f"mllp://127.0.0.1:{port}", str(both)]
    )
    assert f"{both}:1: MSG-A04-0001 → AA" in result.stdout
    assert f"{both}:5: LAB-1 → AR" in result.stdout
    assert result.exit_code == 1  # one message was not accepted


async def test_python_hl7_mllp_send_works_against_the_hub(hub: Hub, tmp_path: Path):
    msg = tmp_path / "a04.hl7"
    msg.write_bytes(A04)
    tool = Path(sys.executable).parent / "mllp_send"
    proc = await asyncio.create_subprocess_exec(
        str(tool),
        "--loose",
        "--port",
        str(port_of(hub)),
        "--file",
        str(msg),
        "127.0.0.1",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert b"MSA|AA|MSG-A04-0001" in out
