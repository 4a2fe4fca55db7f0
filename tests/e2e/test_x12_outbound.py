"""Claims out as X12: an 837 arriving from billing's inbox reaches the payer's outbox as a
fresh 837P with the payer's own envelope and control numbers, and pyx12 finds no error in it."""

from __future__ import annotations

import os
from pathlib import Path

from adapters.x12 import parse
from carehub.app.hub import Hub
from hub.config import parse_config
from tests.e2e.test_adt_to_fhir import wait_for
from tests.x12_support import run_pyx12

CLAIM = "lfhx12__837_005010X222A2_demo.autoaccident.837"


def _config(inbox: Path, outbox: Path) -> str:
    return f"""
hub: {{namespace: x12out}}
systems:
  billing:
    inbound: [{{type: x12-inbox, path: "{inbox}", poll_seconds: 0.1, settle_seconds: 0}}]
  payer:
    outbound:
      type: x12-outbox
      path: "{outbox}"
      sender_id: CAREHUB
      receiver_id: PAYER01
      submitter_contact: Billing Office
      submitter_phone: "8005551212"
      receiver_name: ACME HEALTH PLAN
      claim_filing_indicator: CI
    subscribes: ["claim.submitted"]
"""


async def test_a_claim_goes_out_as_an_837p_that_pyx12_accepts(tmp_path: Path, corpus: Path):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    cfg = parse_config(_config(inbox, outbox)).with_overrides(
        db_url=f"sqlite:///{tmp_path / 'h.db'}"
    )
    async with Hub(cfg) as hub:
        inbox.mkdir(parents=True, exist_ok=True)
        src = inbox / ".c.part"
        src.write_bytes((corpus / "x12" / CLAIM).read_bytes())
        os.replace(src, inbox / "claim.837")
        await wait_for(lambda: any(outbox.glob("claim.submitted-*.x12")))
        written = next(outbox.glob("claim.submitted-*.x12")).read_bytes()
        assert hub.store is not None
        rows = await hub.store.list_deliveries(destination="payer")
    assert [r.status for r in rows] == ["delivered"]
    doc = parse(written)
    ic = doc.interchanges[0]
    assert ic.isa.element(6).strip() == "CAREHUB" and ic.isa.element(8).strip() == "PAYER01"
    assert ic.isa.element(13) == "000000001"  # the payer's first control number
    ts = next(doc.transaction_sets())
    assert ts.id == "837" and ts.st.element(3) == "005010X222A1"
    result = run_pyx12(written)
    assert result.ok and result.errors == [], result
