"""``carehub validate`` gives the verdict of a port configured with the defaults: the same
MSA-1 (AA/AE/AR) as a real MLLP port for the same bytes, for every message of the shared
HL7 v2 corpus and for crafted ones (a type and a trigger the hub does not map, a bad MSH, a
content error, warnings); and an X12 interchange is valid exactly when the inbox accepts it.

"The default port": what another port's settings change (strict mode, raw pass-through of
unmapped types to a subscriber) is not judged by ``validate``, which has no config."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters.hl7v2 import MllpClient, parse
from carehub.app.files import read_items, validate_item
from carehub.app.hub import Hub
from carehub.app.x12 import X12Inbound
from carehub.cli import cli
from hub.config import parse_config
from hub.judge import InboundOutcome
from hub.pipeline import Pipeline
from hub.store import SqlStore
from queues import MemoryTransport, build_topology, ingress_exchange

CONFIG = """
hub: {namespace: parity, http: {enabled: false}}
systems:
  ehr:
    inbound: [{type: mllp, name: adt, port: 0}]
"""

MSH = b"MSH|^~\\&|PARITY|SITE|HUB|HUB|20260101120000||"
PID = b"PID|1||PAR-1^^^H^MR||Doe^Jane||19800101|F\r"
CRAFTED = {
    # MSH-9.1 no mapping takes: AR, ERR-3 200
    "unsupported_type.hl7": MSH + b"ZZZ^Z01|PAR-T|P|2.5.1\r" + PID,
    # a known type, a trigger no mapping takes (Z triggers are site-defined): AR 201
    "unsupported_event.hl7": MSH + b"ADT^Z99|PAR-E|P|2.5.1\r" + PID,
    # no MSH-9 at all
    "bad_msh_type.hl7": MSH + b"|PAR-M|P|2.5.1\r" + PID,
    # no MSH-10: the message cannot be told from another
    "bad_msh_control.hl7": MSH + b"ADT^A04||P|2.5.1\r" + PID,
    # PID-7 is no date: AE naming PID-7
    "content_error.hl7": MSH + b"ADT^A04|PAR-C|P|2.5.1\rPID|1||PAR-2^^^H^MR||Doe^J||2023133|F\r",
    # accepted with warnings: an unknown administrative sex code, a Z-segment
    "warnings.hl7": MSH
    + b"ADT^A04|PAR-W|P|2.5.1\rPID|1||PAR-3^^^H^MR||Doe^J||19800101|Q\rZXT|1|local\r",
}


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[int]:
    cfg = parse_config(CONFIG).with_overrides(db_url=f"sqlite:///{tmp_path / 'parity.db'}")
    async with Hub(cfg) as hub:
        assert hub.inbound is not None
        yield int(hub.inbound.find("ehr").server.port)


def _crafted(tmp_path: Path) -> list[Path]:
    for name, data in CRAFTED.items():
        (tmp_path / name).write_bytes(data)
    return [tmp_path / name for name in CRAFTED]


def _files(corpus: Path, tmp_path: Path) -> list[Path]:
    return sorted((corpus / "hl7v2").iterdir()) + _crafted(tmp_path)


def _original_mode(raw: bytes) -> bytes:
    """``raw`` with MSH-15/MSH-16 emptied: the port answers it with one original-mode ACK
    (MSA-1 AA/AE/AR), the answer ``validate`` reports (in enhanced mode the port's first
    answer is the accept ack, CA, or none with NE)."""
    sep = raw[3:4]
    end = min((i for i in (raw.find(b"\r"), raw.find(b"\n")) if i >= 0), default=len(raw))
    fields = raw[:end].split(sep)
    for n in (14, 15):  # fields[n] is MSH-(n+1)
        if len(fields) > n:
            fields[n] = b""
    return sep.join(fields) + raw[end:]


async def test_validate_answers_as_the_mllp_port_does(
    port: int, corpus: Path, tmp_path: Path
) -> None:
    answers: dict[str, set[str]] = {}
    mismatches = []
    async with MllpClient("127.0.0.1", port, timeout=15) as client:
        for path in _files(corpus, tmp_path):
            for item in read_items(path):
                if item.format != "hl7v2":  # a file's batch envelope: not sent on a port
                    continue
                item.raw = _original_mode(item.raw)
                verdict = validate_item(item)
                ack = parse(await client.send(item.raw))
                on_port = ack["MSA-1"]
                answers.setdefault(on_port or "", set()).add(path.name)
                if verdict.answer != on_port or verdict.ok != (on_port == "AA"):
                    mismatches.append((path.name, item.line, verdict.answer, on_port))
    assert mismatches == []
    # the comparison covered every verdict, and the crafted files got the one they are for
    assert {"AA", "AE", "AR"} <= set(answers)
    assert {"unsupported_type.hl7", "unsupported_event.hl7"} <= answers["AR"]
    assert "content_error.hl7" in answers["AE"] and "warnings.hl7" in answers["AA"]


def test_an_unmapped_type_is_an_error_exit_1_as_the_port_refuses_it(tmp_path: Path) -> None:
    unsupported = [p for p in _crafted(tmp_path) if p.name.startswith("unsupported_")]
    result = CliRunner().invoke(cli, ["validate", "--json", *map(str, unsupported)])
    assert result.exit_code == 1
    verdicts = json.loads(result.stdout)
    assert [(v["ok"], v["answer"], v["outcome"]) for v in verdicts] == [
        (False, "AR", "rejected"),
        (False, "AR", "rejected"),
    ]
    codes = {f["format_code"] for v in verdicts for f in v["findings"] if f["severity"] == "error"}
    assert codes == {"200", "201"}


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'hub.db'}")
    transport = MemoryTransport()
    await transport.start(build_topology("parity", {}, retry_delays=[0.2]))
    try:
        yield Pipeline(store, transport, ingress_exchange=ingress_exchange("parity"))
    finally:
        await transport.close()
        await store.close()


async def test_an_x12_file_is_valid_exactly_when_the_inbox_accepts_it(
    pipeline: Pipeline, corpus: Path
) -> None:
    outcomes: dict[bool, list[Any]] = {True: [], False: []}
    for path in sorted((corpus / "x12").iterdir())[:40]:
        for item in read_items(path):
            if item.format != "x12":
                continue
            verdict = validate_item(item)
            hub = await pipeline.receive(
                X12Inbound(pipeline.store, partner=f"p{path.stem[-12:]}"), item.raw, system="payer"
            )
            accepted = hub.outcome in (InboundOutcome.ACCEPTED, InboundOutcome.DUPLICATE)
            assert verdict.ok == accepted, (path.name, verdict.report.as_list())
            outcomes[accepted].append(path.name)
    assert outcomes[True] and outcomes[False]  # both verdicts were compared
