"""Deliverers: render a canonical event for one destination and send it there."""

from __future__ import annotations

import json
from typing import Any

from adapters.fhir.client import FhirClient
from hub.config import FhirOutbound, HubConfig, SystemConfig, secret
from hub.envelope import Envelope
from hub.errors import ConfigError, MappingError
from hub.ports import Delivered, Deliverer
from hub.store import Store
from mappings.fhir import MapContext as FhirContext
from mappings.fhir import to_fhir, validate_fhir

__all__ = ["FhirDeliverer", "make_deliverer"]

#: identifier system used when a record has no identifier a partner could update it by
CANONICAL_ID_SYSTEM = "urn:carehub:canonical-id"


class FhirDeliverer:
    """Delivers to a partner FHIR server by conditional update on an identifier, so a retry
    never creates a duplicate; the envelope id travels as ``X-Idempotency-Key``."""

    format = "fhir"

    def __init__(self, name: str, outbound: FhirOutbound):
        self.name = name
        self.outbound = outbound
        self.ctx = FhirContext(source=name)
        self.client = FhirClient(outbound.url, token=self._token, timeout=outbound.timeout)

    async def _token(self) -> str | None:
        auth = self.outbound.auth
        if auth.type == "none":
            return None
        if auth.type == "bearer":
            return secret(auth.token_env, f"systems.{self.name}.outbound.auth.token_env")
        raise ConfigError(f"systems.{self.name}.outbound.auth: {auth.type} is not supported yet")

    async def deliver(self, envelope: Envelope) -> Delivered:
        resource = to_fhir(envelope.payload.entity, self.ctx)
        validate_fhir(resource)
        rtype = str(resource["resourceType"])
        system, value = self._key(resource, envelope)
        resp = await self.client.conditional_update(
            rtype, system, value, resource, idempotency_key=f"{envelope.id}:{self.name}"
        )
        return Delivered(
            format="fhir",
            message_key=rtype,
            rendered=json.dumps(resource, separators=(",", ":")).encode(),
            response=f"HTTP {resp.status}",
        )

    def _key(self, resource: dict[str, Any], envelope: Envelope) -> tuple[str | None, str]:
        """The identifier to update by: the partner's preferred system when the record has
        it, else the record's first identifier, else the hub's canonical id."""
        idents = [i for i in resource.get("identifier") or [] if i.get("value")]
        preferred = self.outbound.patient_identifier_system
        for ident in idents:
            if preferred and ident.get("system") == preferred:
                return preferred, str(ident["value"])
        if idents:
            return idents[0].get("system"), str(idents[0]["value"])
        entity_id = envelope.payload.entity.id
        if not entity_id:
            raise MappingError(
                f"{resource['resourceType']} has no identifier to deliver by",
                location=f"{resource['resourceType']}.identifier",
            )
        resource["identifier"] = [{"system": CANONICAL_ID_SYSTEM, "value": entity_id}]
        return CANONICAL_ID_SYSTEM, entity_id

    async def close(self) -> None:
        await self.client.close()


def make_deliverer(
    name: str, system: SystemConfig, config: HubConfig, store: Store, vocab: Any
) -> Deliverer:
    """The deliverer for ``system``'s outbound endpoint."""
    outbound = system.outbound
    if isinstance(outbound, FhirOutbound):
        return FhirDeliverer(name, outbound)
    kind = outbound.type if outbound is not None else "none"
    raise ConfigError(f"systems.{name}.outbound: type {kind} is not available yet")
