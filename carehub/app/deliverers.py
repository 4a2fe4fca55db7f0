"""Deliverers: render a canonical event for one destination (pure), then send it there.

One straight line per destination format, the shape of ``hub.ports.Deliverer``:
``render(envelope) -> Rendered`` maps, validates and picks the idempotency key without
touching the envelope; ``send(rendered) -> Delivered`` does the I/O.

Strict out: every rendering is checked by its format's outside validator
(``conformance.emitted``: the R4 models, hl7apy strict, the X12 guide tables and pyx12)
before anything is sent. One it refuses raises ``EmittedInvalid`` — a permanent mapping
error, so the outbound worker parks the delivery with the findings as its reason (which
field is wrong) and nothing reaches the partner.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.fhir.client import FhirClient
from adapters.fhir.smart import SmartBackendAuth
from adapters.hl7v2.client import MllpSender
from adapters.hl7v2.header import rewrite_header
from adapters.hl7v2.limits import Limits
from adapters.x12.inbox import Outbox
from carehub.app.claim_parties import resolve_claim_parties
from conformance.emitted import require_valid
from hub.canonical import REMOVALS, Claim, Event, EventKind
from hub.config import (
    FhirOutbound,
    HubConfig,
    MllpOutbound,
    SystemConfig,
    TlsConfig,
    X12Outbox,
    secret,
)
from hub.context import Vocabulary
from hub.envelope import Envelope, RawEnvelope
from hub.errors import ConfigError, MappingError, UnsupportedMessage
from hub.ids import delivery_key, mllp_control_id, outbox_file_name
from hub.ports import Delivered, Deliverer, Rendered, Store
from hub.sync import IdentifierPolicy, is_placeholder
from mappings.fhir import FhirMapContext, merge_to_fhir, to_fhir
from mappings.fhir.references import V2_0203
from mappings.hl7v2 import OUTBOUND as HL7_OUTBOUND
from mappings.hl7v2 import Hl7v2OutboundOptions, render_hl7v2_event
from mappings.x12.outbound import OUTBOUND as X12_OUTBOUND
from mappings.x12.outbound import X12OutboundOptions, render_x12_event

__all__ = [
    "FhirDeliverer",
    "FhirRendered",
    "MllpDeliverer",
    "X12OutboxDeliverer",
    "X12Rendered",
    "make_deliverer",
]

#: identifier system used when a record has no identifier a partner could update it by
CANONICAL_ID_SYSTEM = "urn:carehub:canonical-id"

#: why a removal is not sent in HL7 v2 or X12: neither has a message that faithfully says
#: "this record no longer exists at its source" (an A23 deletes a visit, an A29 a person's
#: information, an S17 an appointment as entered in error — each means something narrower)
_NO_REMOVAL = "a removal at the source has no faithful {format} equivalent; not sent"


@dataclass(frozen=True, slots=True, kw_only=True)
class FhirRendered(Rendered):
    """A FHIR delivery: a conditional update of ``resource`` by ``identifier`` (system,
    value) — a conditional delete by it when ``delete`` — or, ``identifier`` None,
    ``resource`` is a transaction Bundle to POST."""

    resource: Mapping[str, Any] = field(default_factory=dict)
    identifier: tuple[str | None, str] | None = None
    delete: bool = False


class FhirDeliverer:
    """Delivers to a partner FHIR server by conditional update on an identifier, so a retry
    never creates a duplicate; the envelope id travels as ``X-Idempotency-Key``."""

    format = "fhir"

    def __init__(self, name: str, outbound: FhirOutbound, policy: IdentifierPolicy | None = None):
        self.name = name
        self.outbound = outbound
        #: which patient identifiers may key a partner's record (``matching.identifying``)
        self.policy = policy or IdentifierPolicy()
        self.ctx = FhirMapContext(source=name)
        self._smart = _smart(name, outbound) if outbound.auth.type == "smart-backend" else None
        self.client = FhirClient(
            outbound.url, token=self._token, timeout=outbound.timeout, redirects=outbound.redirects
        )

    async def _token(self) -> str | None:
        auth = self.outbound.auth
        if self._smart is not None:
            return await self._smart()
        if auth.type == "bearer":
            return secret(auth.token_env, f"systems.{self.name}.outbound.auth.token_env")
        return None

    def render(self, envelope: Envelope) -> FhirRendered:
        """The resource (a Bundle for a merge), validated, and the identifier to update by."""
        if envelope.payload.kind is EventKind.PATIENT_MERGED:
            return self._render_merge(envelope)
        if envelope.payload.kind in REMOVALS:
            return self._render_removal(envelope)
        try:
            mapped = to_fhir(envelope.payload.entity, self.ctx, event=envelope.payload.kind)
        except UnsupportedMessage as exc:
            return FhirRendered(format="fhir", skipped=exc.message)
        resource, identifier = self._keyed(mapped, envelope)
        require_valid("fhir", resource)  # what is sent, with the identifier it is keyed by
        return FhirRendered(
            format="fhir",
            message_key=str(resource["resourceType"]),
            body=_compact(resource),
            idempotency_key=delivery_key(envelope.id, self.name),
            resource=resource,
            identifier=identifier,
        )

    def _render_merge(self, envelope: Envelope) -> FhirRendered:
        """A merge touches several resources: one transaction Bundle of conditional updates
        — the survivor with ``link: replaces``, each retired Patient inactive with
        ``replaced-by``."""
        entries = []
        for mapped in merge_to_fhir(envelope.payload, self.ctx):
            resource, (system, value) = self._keyed(mapped, envelope)
            token = f"{system}|{value}" if system else value
            entries.append(
                {
                    "resource": resource,
                    "request": {"method": "PUT", "url": f"Patient?identifier={token}"},
                }
            )
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        require_valid("fhir", bundle)  # the Bundle, and every entry as its own type
        return FhirRendered(
            format="fhir",
            message_key="Bundle/transaction",
            body=_compact(bundle),
            idempotency_key=delivery_key(envelope.id, self.name),
            resource=bundle,
        )

    def _render_removal(self, envelope: Envelope) -> FhirRendered:
        """A removal: ``DELETE Type?identifier=…``, by the identifier a conditional update
        of the record would use, so the partner removes the copy the hub gave it."""
        try:
            mapped = to_fhir(envelope.payload.entity, self.ctx, event=envelope.payload.kind)
        except UnsupportedMessage as exc:
            return FhirRendered(format="fhir", skipped=exc.message)
        resource, identifier = self._keyed(mapped, envelope)
        rtype = str(resource["resourceType"])
        system, value = identifier
        token = f"{system}|{value}" if system else value
        return FhirRendered(
            format="fhir",
            message_key=f"{rtype}/delete",
            # no body goes out: the request line is what the outbound log keeps
            body=f"DELETE {rtype}?identifier={token}".encode(),
            idempotency_key=delivery_key(envelope.id, self.name),
            resource={"resourceType": rtype},
            identifier=identifier,
            delete=True,
        )

    def _keyed(
        self, resource: dict[str, Any], envelope: Envelope
    ) -> tuple[dict[str, Any], tuple[str | None, str]]:
        """The resource to send and the identifier to update it by: the partner's preferred
        system when the record has it, else the record's first identifier that names one
        record only, else the hub's canonical id — then added to a copy of the resource, so
        the partner holds it. A placeholder (``999-99-9999``, ``UNKNOWN``) is never a key,
        and for a patient neither is an identifier that only corroborates identity (an SSN,
        a member id: ``matching.identifying``) — two people carrying one would be one record
        at the partner."""
        idents = [i for i in resource.get("identifier") or [] if i.get("value")]
        usable = [i for i in idents if not is_placeholder(str(i["value"]), i.get("system"))]
        preferred = self.outbound.patient_identifier_system
        for ident in usable:
            if preferred and ident.get("system") == preferred:
                return resource, (preferred, str(ident["value"]))
        if resource.get("resourceType") == "Patient":
            usable = [
                i for i in usable if self.policy.identifying(i.get("system") or "", _v2_type(i))
            ]
        if usable:
            return resource, (usable[0].get("system"), str(usable[0]["value"]))
        entity_id = envelope.payload.entity.id
        if not entity_id:
            raise MappingError(
                f"{resource['resourceType']} has no identifier to deliver by",
                location=f"{resource['resourceType']}.identifier",
            )
        canonical = {"system": CANONICAL_ID_SYSTEM, "value": entity_id}
        keyed = {**resource, "identifier": [*idents, canonical]}
        return keyed, (CANONICAL_ID_SYSTEM, entity_id)

    async def send(self, rendered: FhirRendered) -> Delivered:
        """``PUT Type?identifier=…`` (``DELETE`` for a removal, or ``POST`` the transaction)
        with the idempotency key."""
        if rendered.identifier is None:
            resp = await self.client.transaction(
                rendered.resource, idempotency_key=rendered.idempotency_key
            )
        elif rendered.delete:
            system, value = rendered.identifier
            resp = await self.client.conditional_delete(
                str(rendered.resource["resourceType"]),
                system,
                value,
                idempotency_key=rendered.idempotency_key,
            )
        else:
            system, value = rendered.identifier
            resp = await self.client.conditional_update(
                str(rendered.resource["resourceType"]),
                system,
                value,
                rendered.resource,
                idempotency_key=rendered.idempotency_key,
            )
        return Delivered(
            format="fhir",
            message_key=rendered.message_key,
            rendered=rendered.body,
            response=f"HTTP {resp.status}",
        )

    async def close(self) -> None:
        await self.client.close()


class MllpDeliverer:
    """Delivers HL7 v2 over one persistent MLLP connection per destination: one message at
    a time, the ACK matched to MSH-10, AE/AR parked with the partner's text. MSH-10 is
    derived from the envelope id, so a retry carries the same control id (the partner's
    duplicate check sees a resend, not a new message)."""

    format = "hl7v2"

    def __init__(self, name: str, system: SystemConfig, outbound: MllpOutbound, vocab: Vocabulary):
        self.name = name
        self.outbound = outbound
        self.options = Hl7v2OutboundOptions(
            version=outbound.version,
            sending_application="CAREHUB",
            receiving_application=outbound.receiving_application or name.upper(),
            receiving_facility=outbound.receiving_facility or "",
            identifier_namespaces=dict(system.identifiers),
            destination=name,
            vocab=vocab,
        )
        self.sender = MllpSender(
            outbound.host,
            outbound.port,
            ack_timeout=outbound.timeout,
            ssl_context=_client_ssl(outbound.tls, name) if outbound.tls else None,
        )
        self._lock = asyncio.Lock()

    def render(self, envelope: Envelope) -> Rendered:
        """The HL7 v2 message, its MSH-10 derived from the envelope id and destination."""
        event = envelope.payload
        # a removal goes out only where HL7 v2 has a faithful equivalent (VXU RXA-21 D)
        if event.kind in REMOVALS and event.kind not in HL7_OUTBOUND:
            return Rendered(format="hl7v2", skipped=_NO_REMOVAL.format(format="HL7 v2"))
        if event.kind not in HL7_OUTBOUND:
            return Rendered(format="hl7v2", skipped=f"no HL7 v2 rendering for {event.kind.value}")
        control = mllp_control_id(envelope.id, self.name)
        data = render_hl7v2_event(event, self.options.with_control_id(control))
        require_valid("hl7v2", data)  # hl7apy strict: fields, types, segment order
        return Rendered(format="hl7v2", message_key=_msh9(data), body=data, idempotency_key=control)

    def render_raw(self, envelope: RawEnvelope) -> Rendered:
        """A raw message passed through (``hub.passthru``): the sender's bytes with MSH-5/6
        set to this destination's receiving application and facility, MSH-3/4 the sender's
        or the hub's (``passthrough_sender``), and MSH-10 derived from the envelope id and
        destination — the same on every retry, so the partner can tell a resend. Nothing
        else changes; the content is the sender's, so it is not validated beyond MSH being
        readable (the result is parsed again)."""
        control = mllp_control_id(envelope.id, self.name)
        values = {
            5: self.options.receiving_application,
            6: self.options.receiving_facility,
            10: control,
        }
        if self.outbound.passthrough_sender == "hub":
            values |= {3: self.options.sending_application, 4: self.options.sending_facility}
        # our own stored bytes, read within the receiving port's limits: none apply again
        data = rewrite_header(envelope.raw, values, limits=_STORED)
        return Rendered(
            format="hl7v2", message_key=envelope.message_key, body=data, idempotency_key=control
        )

    async def send(self, rendered: Rendered) -> Delivered:
        """Send and wait for the ACK that answers this MSH-10."""
        assert rendered.body is not None
        async with self._lock:  # one message in flight per connection (MLLP is sequential)
            ack = await self.sender.send(rendered.body)
        return Delivered(
            format="hl7v2",
            message_key=rendered.message_key,
            rendered=rendered.body,
            response=f"MSA-1 {ack.get('MSA-1')}",
        )

    async def close(self) -> None:
        await self.sender.close()


def _smart(name: str, outbound: FhirOutbound) -> SmartBackendAuth:
    auth = outbound.auth
    where = f"systems.{name}.outbound.auth"
    if not auth.token_url or not auth.client_id:
        raise ConfigError(f"{where}: smart-backend needs token_url and client_id")
    key = secret(auth.private_key_env, f"{where}.private_key_env")
    return SmartBackendAuth(
        auth.token_url,
        auth.client_id,
        key,
        scope=auth.scope or "system/*.cruds",
        redirects=outbound.redirects,
    )


#: no limit: a passed-through message is bytes the hub stored after its port read them
_STORED = Limits(
    max_bytes=sys.maxsize,
    max_segments=sys.maxsize,
    max_fields=sys.maxsize,
    max_repetitions=sys.maxsize,
    max_components=sys.maxsize,
    max_subcomponents=sys.maxsize,
)


def _compact(resource: Mapping[str, Any]) -> bytes:
    return json.dumps(resource, separators=(",", ":")).encode()


def _msh9(data: bytes) -> str | None:
    fields = data.split(b"\r", 1)[0].split(b"|")
    return fields[8].decode("ascii", "replace") if len(fields) > 8 else None


def _client_ssl(tls: TlsConfig, name: str) -> ssl.SSLContext:
    """Verify the partner against ``ca`` (or the system store); present our certificate."""
    where = f"systems.{name}.outbound.tls"
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca)
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    password = (
        secret(tls.key_password_env, f"{where}.key_password_env") if tls.key_password_env else None
    )
    try:
        context.load_cert_chain(tls.cert, tls.key, password=password)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{where}: cannot load certificate or key: {exc}") from exc
    return context


#: the control numbers an interchange is checked with before real ones are allocated
_TRIAL_CONTROL = {"ISA13": 1, "GS06": 1, "ST02": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class X12Rendered(Rendered):
    """An X12 delivery: ``event`` becomes an interchange when it is written, because its
    control numbers (ISA13, GS06, ST02) are allocated then — a number is spent only on an
    interchange that goes out. ``idempotency_key`` is the outbox file name."""

    event: Event | None = None


class X12OutboxDeliverer:
    """Renders claims (837P/837I), eligibility checks (270) and purchase orders (850) as
    interchanges with control numbers from the store (per partner, never reused) and
    writes each atomically to the partner's outbox folder, named by the envelope id."""

    format = "x12"

    def __init__(self, name: str, outbound: X12Outbox, store: Store):
        self.name = name
        self.outbound = outbound
        self.store = store
        self.outbox = Outbox(outbound.path)

    def render(self, envelope: Envelope) -> X12Rendered:
        """Whether the event has an X12 rendering, and the file it is written to. Nothing
        is rendered or checked here: a claim's parties are resolved from the store first
        (``send``), and the interchange checked is the one that is written."""
        event = envelope.payload
        if event.kind in REMOVALS:
            return X12Rendered(format="x12", skipped=_NO_REMOVAL.format(format="X12"))
        if event.kind not in X12_OUTBOUND:
            return X12Rendered(format="x12", skipped=f"no X12 rendering for {event.kind.value}")
        return X12Rendered(
            format="x12",
            message_key=event.kind.value,
            idempotency_key=outbox_file_name(event.kind.value, envelope.id),
            event=event,
        )

    async def send(self, rendered: X12Rendered) -> Delivered:
        """Resolve a claim's parties from the store, render the interchange with stand-in
        control numbers and check it (guide tables, pyx12) — so no control number is spent
        on one that cannot go out — then allocate the real numbers, render again (the
        numbers are all that differs), check that too, and write it to the outbox."""
        assert rendered.event is not None and rendered.idempotency_key is not None
        event = await self._resolved(rendered.event)  # before a control number is spent
        trial = await asyncio.to_thread(render_x12_event, event, self._options(_TRIAL_CONTROL))
        await asyncio.to_thread(require_valid, "x12", trial)
        numbers = {
            kind: await self.store.next_control_number(self.name, kind)
            for kind in ("ISA13", "GS06", "ST02")
        }
        data = await asyncio.to_thread(render_x12_event, event, self._options(numbers))
        await asyncio.to_thread(require_valid, "x12", data)  # what is written is checked
        name = rendered.idempotency_key
        await asyncio.to_thread(self.outbox.write, name, data)
        return Delivered(
            format="x12",
            message_key=rendered.message_key,
            rendered=data,
            response=f"written {name} (ISA13 {numbers['ISA13']:09d})",
        )

    async def _resolved(self, event: Event) -> Event:
        """A claim's providers as the store knows them (a FHIR-born claim names its billing
        provider by reference: its NPI, tax id and address are the record's)."""
        if not isinstance(event.entity, Claim):
            return event
        claim = await resolve_claim_parties(self.store, event.entity)
        return event.model_copy(update={"entity": claim})

    def _options(self, numbers: dict[str, int]) -> X12OutboundOptions:
        o = self.outbound
        return X12OutboundOptions(
            sender_id=o.sender_id,
            receiver_id=o.receiver_id,
            sender_qualifier=o.sender_qualifier,
            receiver_qualifier=o.receiver_qualifier,
            usage=o.usage,
            ack_requested=o.ack_requested,
            next_control=numbers.__getitem__,
            submitter_name=o.submitter_name,
            submitter_contact=o.submitter_contact,
            submitter_phone=o.submitter_phone,
            submitter_email=o.submitter_email,
            receiver_name=o.receiver_name,
            claim_filing_indicator=o.claim_filing_indicator,
            patient_status=o.patient_status,
            purchase_order_version=o.purchase_order_version,
        )

    async def close(self) -> None:
        return None


def _v2_type(identifier: Mapping[str, Any]) -> str | None:
    """An identifier's HL7 table 0203 type code (``MR``, ``SS``), if it carries one."""
    for coding in (identifier.get("type") or {}).get("coding") or []:
        if coding.get("system") == V2_0203 and coding.get("code"):
            return str(coding["code"])
    return None


def make_deliverer(
    name: str, system: SystemConfig, config: HubConfig, store: Store, vocab: Vocabulary
) -> Deliverer[Any]:
    """The deliverer for ``system``'s outbound endpoint."""
    outbound = system.outbound
    if isinstance(outbound, FhirOutbound):
        return FhirDeliverer(name, outbound, IdentifierPolicy(config.matching.identifying))
    if isinstance(outbound, MllpOutbound):
        return MllpDeliverer(name, system, outbound, vocab)
    if isinstance(outbound, X12Outbox):
        return X12OutboxDeliverer(name, outbound, store)
    kind = outbound.type if outbound is not None else "none"
    raise ConfigError(f"systems.{name}.outbound: type {kind} is not available yet")
