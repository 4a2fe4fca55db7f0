"""A running hub with FHIR API clients of chosen SMART scopes and a billing subscriber (a
``FhirSink``), for the write-scope and identity-hold tests: ``scoped_hub`` starts it,
``FhirScene.call`` sends as one of its clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink
from hub.config import parse_config

CONFIG = """
hub:
  namespace: {namespace}
  retry_delays: [0.1]
  delivery_limit: 2
  http: {{port: 0}}
systems:
  ehr:
    inbound:
      - {{type: fhir, client: full}}
  billing:
    outbound: {{type: fhir, url: "{sink}"}}
    subscribes: ["patient.*"]
clients:
{clients}
"""


def tokens_for(scopes: Mapping[str, str], tag: str) -> dict[str, str]:
    """A token per client name (``full`` must be one: the ehr's own client)."""
    return {name: f"tok-{tag}-{name}-5d1e" for name in scopes}


@asynccontextmanager
async def scoped_hub(
    folder: Path, monkeypatch: pytest.MonkeyPatch, scopes: Mapping[str, str], tag: str
) -> AsyncIterator[tuple[Hub, FhirSink]]:
    """The hub, its clients ``scopes`` (name → one SMART scope) with ``tokens_for`` tokens."""
    prefix = f"{tag.upper()}_T_"
    for name, token in tokens_for(scopes, tag).items():
        monkeypatch.setenv(prefix + name.upper().replace("-", "_"), token)
    clients = "\n".join(
        f"  {name}: {{token_env: {prefix}{name.upper().replace('-', '_')}, "
        f'scopes: ["{scope}"], system: ehr}}'
        for name, scope in scopes.items()
    )
    async with FhirSink() as sink:
        text = CONFIG.format(namespace=tag, sink=sink.base_url, clients=clients)
        cfg = parse_config(text).with_overrides(db_url=f"sqlite:///{folder / f'{tag}.db'}")
        async with Hub(cfg) as hub:
            yield hub, sink


@dataclass
class Reply:
    status: int
    body: bytes
    headers: Any

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FhirScene:
    hub: Hub
    sink: FhirSink
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        assert self.hub.http is not None
        return f"http://127.0.0.1:{self.hub.http.port}/fhir"

    async def call(
        self, method: str, path: str, client: str, body: Any = None, **headers: str
    ) -> Reply:
        """One request as ``client``; ``headers`` beside its bearer token."""
        hdrs = {"Authorization": f"Bearer {self.tokens[client]}", **headers}
        data = None
        if body is not None:
            hdrs["Content-Type"] = "application/fhir+json"
            data = json.dumps(body).encode()
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.url}/{path}", headers=hdrs, data=data) as resp,
        ):
            return Reply(resp.status, await resp.read(), resp.headers)
