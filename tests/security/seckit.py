"""A hub with HTTP clients of every kind, an MLLP port and a partner FHIR server that
refuses one patient (so a delivery gets parked), for the access and audit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink
from hub.config import parse_config

TOKENS = {
    "reader": "tok-reader-7f3a",
    "writer": "tok-writer-91bc",
    "ch": "tok-ch-22d0",
    "ops": "tok-ops-5e61",
}
REFUSED_MRN = "9900112"

CONFIG = """
hub:
  namespace: sec
  retry_delays: [0.1]
  delivery_limit: 2
  http: {{port: 0}}
systems:
  ehr:
    inbound:
      - {{type: mllp, name: adt, port: 0}}
      - {{type: fhir, client: writer}}
    identifiers: {{patient: GOODHEALTH}}
  clearinghouse:
    inbound: [{{type: x12-http, client: ch}}]
  billing:
    outbound: {{type: fhir, url: "{sink}"}}
    subscribes: ["patient.*"]
clients:
  reader: {{token_env: SEC_T_READER, scopes: ["system/Patient.rs"]}}
  writer: {{token_env: SEC_T_WRITER, scopes: ["system/*.cruds"], system: ehr}}
  ch: {{token_env: SEC_T_CH, scopes: [], system: clearinghouse}}
  ops: {{token_env: SEC_T_OPS, scopes: ["carehub/admin"]}}
"""


@asynccontextmanager
async def secured_hub(
    folder: Path, monkeypatch: Any, *, db_url: str | None = None
) -> AsyncIterator[tuple[Hub, FhirSink]]:
    for name, token in TOKENS.items():
        monkeypatch.setenv(f"SEC_T_{name.upper()}", token)
    async with FhirSink(reject_values={REFUSED_MRN}) as sink:
        cfg = parse_config(CONFIG.format(sink=sink.base_url)).with_overrides(
            db_url=db_url or f"sqlite:///{folder / 'sec.db'}"
        )
        async with Hub(cfg) as hub:
            yield hub, sink


def bearer(client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[client]}"}


def base(hub: Hub) -> str:
    assert hub.http is not None
    return f"http://127.0.0.1:{hub.http.port}"
