"""Results are PHI: an ORU^R01 with planted result values (a number, a text, a coded value,
an attachment) and a mistyped one (answered AE) go through a running hub that delivers them
to a FHIR server, every logger at DEBUG; no planted value reaches the log output."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink
from hub.config import parse_config
from tests.e2e.test_adt_to_fhir import wait_for
from tests.security.test_no_phi_in_logs import (
    Everything,
    logs,  # noqa: F401 - the DEBUG capture fixture
)

MRN = "9" + secrets.token_hex(5).upper()
NUMBER = "7" + str(secrets.randbelow(10**6)) + ".25"
TEXT = "QZRES" + secrets.token_hex(6).upper()
CODE = "QZCODE" + secrets.token_hex(4).upper()
BLOB = "QZBLOB" + secrets.token_hex(6).upper()
BAD = "QZBAD" + secrets.token_hex(6).upper()
PLANTED = [MRN, NUMBER, TEXT, CODE, base64.b64encode(BLOB.encode()).decode(), BAD]


def oru(control: str, *obx: str) -> bytes:
    head = (
        f"MSH|^~\\&|LIS|LAB|CAREHUB|HUB|20261128100000||ORU^R01^ORU_R01|{control}|P|2.5.1\r"
        f"PID|1||{MRN}^^^GOODHEALTH^MR||Doe^Jane||19800101|F\r"
        "OBR|1|PL-1^EHR|FL-1^LAB|24331-1^Lipid panel^LN|||20261128080000\r"
    )
    return (head + "".join(o + "\r" for o in obx)).encode()


async def test_result_values_never_reach_the_logs(logs: Everything, tmp_path: Path):  # noqa: F811
    blob = base64.b64encode(BLOB.encode()).decode()
    good = oru(
        "P-1",
        f"OBX|1|NM|2093-3^Chol^LN||{NUMBER}|mg/dL^^UCUM|||||F",
        f"OBX|2|ST|8251-1^Comment^LN||{TEXT}||||||F",
        f"OBX|3|CWE|600-7^Culture^LN||{CODE}^Organism^L||||||F",
        f"OBX|4|ED|11526-1^Report^LN||LAB^AP^PDF^Base64^{blob}||||||F",
    )
    bad = oru("P-2", f"OBX|1|NM|2093-3^Chol^LN||{BAD}|mg/dL^^UCUM|||||F")
    async with FhirSink() as sink:
        text = f"""
hub:
  namespace: resphi
  retry_delays: [0.1]
systems:
  lis:
    inbound: [{{type: mllp, port: 0}}]
  ehr:
    outbound: {{type: fhir, url: "{sink.base_url}"}}
    subscribes: ["result.*", "report.*"]
"""
        cfg = parse_config(text).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
        async with Hub(cfg) as hub:
            assert hub.inbound is not None
            port = hub.inbound.find("lis").server.port
            async with MllpClient("127.0.0.1", port, timeout=10) as client:
                assert parse(await client.send(good))["MSA-1"] == "AA"
                assert parse(await client.send(bad))["MSA-1"] == "AE"
            await wait_for(lambda: sink.count("Observation") == 4)
    assert logs.lines, "nothing was logged: the test would prove nothing"
    output = "\n".join(logs.lines)
    for value in PLANTED:
        assert value not in output
