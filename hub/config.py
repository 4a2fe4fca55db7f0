"""Configuration: one YAML file naming the partner systems, their ports and endpoints, what
each subscribes to, and secrets by environment-variable name.

Validated on load; every error names the file, the line and the key::

    clinic.yaml:14: systems.billing.outbound.url: Field required
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.errors import ConfigError
from hub.passthru import RAW_PREFIX, is_raw_pattern, split_subscriptions

__all__ = [
    "AuthConfig",
    "ClientConfig",
    "FhirInbound",
    "FhirOutbound",
    "HttpConfig",
    "HubConfig",
    "HubSettings",
    "IdentifyingConfig",
    "MatchRule",
    "MatchingConfig",
    "MllpInbound",
    "MllpOutbound",
    "SystemConfig",
    "TlsConfig",
    "X12HttpInbound",
    "X12InboxInbound",
    "X12Outbox",
    "load_config",
    "parse_config",
    "secret",
]

_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
_PATTERN_WORD = re.compile(r"^(\*|#|[A-Za-z0-9_-]+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Model):
    """TLS for an MLLP listener or client, or the HTTP listener (``hub.http.tls``). Paths to
    PEM files; the key password by env name."""

    cert: str
    key: str
    ca: str | None = None
    key_password_env: str | None = None
    require_client_cert: bool = False
    #: client certificate subject CNs or SHA-256 fingerprints allowed (mutual TLS)
    allowed_clients: list[str] = Field(default_factory=list)
    min_version: Literal["1.2", "1.3"] = "1.2"


class AuthConfig(_Model):
    """How we authenticate to a partner: a bearer token from the environment, or SMART
    backend-services client credentials."""

    type: Literal["none", "bearer", "smart-backend"] = "none"
    token_env: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    private_key_env: str | None = None
    scope: str | None = None


class MllpInbound(_Model):
    type: Literal["mllp"]
    name: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    tls: TlsConfig | None = None
    #: plain (unencrypted) MLLP must be asked for explicitly when the host is not loopback
    allow_plaintext: bool = False
    allowed_peers: list[str] = Field(default_factory=list)
    idle_timeout: float = 300.0
    frame_timeout: float = 30.0
    max_frame_bytes: int = 16 * 1024 * 1024
    #: another message under a control id (MSH-3|MSH-4|MSH-10) seen before with other
    #: content: ``process`` it as new with a warning (ERR-4 W), or ``reject`` it (AR 205)
    reused_control_id: Literal["process", "reject"] = "process"
    #: ``liberal``: a departure from HL7 v2 that leaves the content unambiguous (MSH-11
    #: empty or outside table 0103, MSH-12 spelt ``v2.5``, Z-segments, fields, repetitions or
    #: components past the definition) is answered AA with an ERR-4 W warning; ``strict``:
    #: each is an error (AE, or AR for MSH-11/MSH-12) with the same text (docs/hl7v2.md)
    reading: Literal["liberal", "strict"] = "liberal"
    #: connections open at once on this port, and from one source address; one more is
    #: closed at once (counted from accept, before the TLS handshake)
    max_connections: int = Field(default=256, ge=1)
    max_connections_per_peer: int = Field(default=32, ge=1)
    #: a new connection must start its first frame (TLS handshake included) this soon
    first_frame_timeout: float = Field(default=10.0, gt=0)


class FhirInbound(_Model):
    """The system posts to the hub's FHIR API (served on hub.http under /fhir)."""

    type: Literal["fhir"]
    name: str | None = None
    #: the API client (``clients:``) whose token identifies this system
    client: str | None = None


class X12InboxInbound(_Model):
    """A watched folder the partner drops interchanges into; our TA1/999/997 answers are
    written to ``acks_path`` (default: the ``acks`` folder inside ``path``)."""

    type: Literal["x12-inbox"]
    name: str | None = None
    path: str
    acks_path: str | None = None
    poll_seconds: float = Field(default=2.0, gt=0)
    #: a file is taken once it has not changed for this long (the partner finished writing)
    settle_seconds: float = Field(default=1.0, ge=0)
    #: a larger file is refused unread (moved to error/ with a finding); 64 MiB by default
    max_file_bytes: int = Field(default=64 * 1024 * 1024, ge=1)


class X12HttpInbound(_Model):
    """The system posts interchanges to ``/x12/{system}`` on the hub's HTTP server."""

    type: Literal["x12-http"]
    name: str | None = None
    #: the API client (``clients:``) whose token alone may post as this system (required:
    #: without it any client's token would do)
    client: str


InboundPort = Annotated[
    MllpInbound | FhirInbound | X12InboxInbound | X12HttpInbound, Field(discriminator="type")
]


class FhirOutbound(_Model):
    type: Literal["fhir"]
    url: str
    auth: AuthConfig = Field(default_factory=AuthConfig)
    timeout: float = 30.0
    #: identifier system URI this partner uses for patients (conditional update key)
    patient_identifier_system: str | None = None
    #: a 3xx answer (never followed): ``fail`` parks the delivery, ``retry`` retries it
    redirects: Literal["fail", "retry"] = "fail"


class MllpOutbound(_Model):
    type: Literal["mllp"]
    host: str
    port: int = Field(ge=1, le=65535)
    tls: TlsConfig | None = None
    timeout: float = 30.0
    version: str = "2.5.1"
    receiving_application: str | None = None
    receiving_facility: str | None = None
    #: MSH-3/MSH-4 of a raw message passed through (``hub.passthru``): ``original`` keeps
    #: the sender's, ``hub`` presents the hub (CAREHUB, empty facility) as canonical
    #: deliveries do
    passthrough_sender: Literal["original", "hub"] = "original"


class X12Outbox(_Model):
    """Interchanges for a trading partner, written to a folder it collects from (837P/837I
    for claims, 270 for eligibility checks, 850 for purchase orders)."""

    type: Literal["x12-outbox"]
    path: str
    sender_id: str
    receiver_id: str
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    usage: Literal["P", "T"] = "P"
    ack_requested: bool = False
    #: 1000A submitter (837) and its contact (one number required by the guide)
    submitter_name: str = "CAREHUB"
    submitter_contact: str = ""
    submitter_phone: str | None = None
    submitter_email: str | None = None
    #: 1000B receiver name (837)
    receiver_name: str = ""
    #: SBR09 and CL103: values the canonical claim does not keep
    claim_filing_indicator: str | None = None
    patient_status: str | None = None
    purchase_order_version: Literal["005010", "004010"] = "005010"


Outbound = Annotated[FhirOutbound | MllpOutbound | X12Outbox, Field(discriminator="type")]


class SystemConfig(_Model):
    """One partner system."""

    description: str | None = None
    inbound: list[InboundPort] = Field(default_factory=list)
    outbound: Outbound | None = None
    #: routing-key patterns of the event kinds this system receives (``patient.*``, ``claim.#``)
    #: and, for an HL7 v2 (MLLP) outbound, of raw messages passed through (``hl7v2.ORU.*``)
    subscribes: list[str] = Field(default_factory=list)
    #: identifier namespace this system uses per entity type (``patient: HOSP-MRN``)
    identifiers: dict[str, str] = Field(default_factory=dict)

    @field_validator("subscribes")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            words = pattern.split(".")
            if not all(_PATTERN_WORD.match(w) for w in words):
                raise ValueError(
                    f"{pattern!r} is not a routing-key pattern (dot-separated words, * or #)"
                )
        return value


class ClientConfig(_Model):
    """A client of the hub's HTTP API: its token by environment-variable name, its scopes."""

    token_env: str
    scopes: list[str] = Field(default_factory=list)
    system: str | None = None


class HttpConfig(_Model):
    """The hub's HTTP server (FHIR API, X12 over HTTP, /health, /admin). ``enabled``: on,
    off, or (unset) on when API clients or HTTP inbound ports are configured."""

    enabled: bool | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = 8 * 1024 * 1024
    max_bundle_entries: int = 1000
    #: seconds a connection has to send a request line and headers in full: from connecting,
    #: or from its first byte after an idle keep-alive (then 408, or closed if it sent nothing)
    header_timeout: float = Field(default=10.0, gt=0)
    #: seconds a request body has to arrive in full once its headers are in (then 408)
    body_timeout: float = Field(default=60.0, gt=0)
    #: seconds an idle keep-alive connection is kept open between requests
    keepalive_timeout: float = Field(default=15.0, gt=0)
    #: open connections at once, over all clients (past it: 503 and closed)
    max_connections: int = Field(default=512, ge=1)
    #: open connections at once from one peer address (past it: 429 and closed); raise it
    #: when a reverse proxy or NAT puts many clients behind one address
    max_connections_per_peer: int = Field(default=64, ge=1)
    #: HTTPS: the same options as an MLLP listener (mutual TLS, allowed_clients, min_version)
    tls: TlsConfig | None = None
    #: what one FHIR request may cost (docs/fhir-api.md "Limits"): the decoded body's
    #: nesting, items of any one array (given names, identifiers...) and values in all
    max_json_depth: int = Field(default=64, ge=8)
    max_array_items: int = Field(default=1000, ge=1)
    max_json_values: int = Field(default=500_000, ge=1)
    #: searches per Bundle; candidates examined and resources returned per request; _count cap
    max_bundle_searches: int = Field(default=50, ge=1)
    max_search_scan: int = Field(default=50_000, ge=1)
    max_request_results: int = Field(default=5000, ge=1)
    max_count: int = Field(default=500, ge=1)
    #: X12 interchanges one client may have in flight over HTTP at once (past it: 429): a
    #: client that posts and hangs up does not stop the work, so its slot is held until the
    #: interchange is answered
    max_x12_in_flight: int = Field(default=4, ge=1)


class HubSettings(_Model):
    name: str = "carehub"
    #: prefix of every exchange and queue name (``carehub.ingress``, ``carehub.dest.billing``)
    namespace: str = Field(default="carehub", pattern=r"^[a-z][a-z0-9_-]*$")
    db_url: str | None = None
    amqp_url: str | None = None
    http: HttpConfig = Field(default_factory=HttpConfig)
    retry_delays: list[float] = Field(default_factory=lambda: [1.0, 5.0, 30.0, 120.0, 600.0])
    delivery_limit: int = Field(default=20, ge=1)
    #: how long an inbound message may wait for the broker's confirm before we refuse it
    confirm_timeout: float = Field(default=10.0, gt=0)
    data_dir: str = "carehub-data"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


MatchField = Literal["family", "given", "birth_date", "sex", "postal_code", "phone"]


class MatchRule(_Model):
    """A demographic matching rule for patients: records agreeing on every field (after
    normalisation: case, accents, spacing) are candidates. ``link`` joins a single candidate
    automatically; ``review`` never does — it puts the pair on the review list."""

    fields: list[MatchField] = Field(min_length=2)
    action: Literal["link", "review"] = "link"


def _default_rules() -> list[MatchRule]:
    return [
        MatchRule(fields=["family", "given", "birth_date", "sex"], action="link"),
        MatchRule(fields=["family", "birth_date"], action="review"),
    ]


#: HL7 table 0203 types of a patient identifier that names one person in one system: medical
#: record number (and temporary), patient internal / external id, person number, enterprise id
IDENTIFYING_TYPES = ("MR", "MRT", "PI", "PT", "PN", "PE")

#: HL7 table 0203 types of an identifier another party issues, shares, reuses or re-issues:
#: SSN, driver's licence, passport, Medicaid / Medicare, member and subscriber numbers,
#: military id, national person id, pension, tax, WIC and workers' comp numbers, guarantor
#: ids, account number, permanent resident card, visa. Corroborate only, whatever their
#: namespace. Any other type not in ``types`` (a vendor's ``MRN``, ``EPI``, ``U``, ``HC``…)
#: is judged by its namespace as an untyped identifier is
CORROBORATING_TYPES = (
    "SS", "DL", "PPN", "MA", "MC", "MB", "SN", "MI", "NI", "PEN", "TAX", "WC", "WCN",
    "GI", "GN", "AN", "PRC", "VS",
)  # fmt: skip

#: namespaces whose identifiers are shared, reused or re-issued in real feeds: SSN,
#: Medicare numbers, driver's licences, X12 payer member ids (``docs/sync.md``, Identity)
CORROBORATING_SYSTEMS = (
    "http://hl7.org/fhir/sid/us-ssn",
    "urn:oid:2.16.840.1.113883.4.1",
    "http://hl7.org/fhir/sid/us-medicare",
    "http://hl7.org/fhir/sid/us-mbi",
    "http://hl7.org/fhir/sid/passport-*",
    "urn:carehub:x12:payer:*",
    "*:dl",
    "*:ssn",
    "*:member",
)


class IdentifyingConfig(_Model):
    """Which patient identifiers may link two records by themselves (issue 11). The others
    only corroborate: the demographic rules decide. Patterns are namespaces as the
    cross-reference holds them (an identifier's system, else ``SYSTEM:TYPE``), ``*`` a
    wildcard; types are HL7 table 0203 codes (case folded). In order: identifying when its
    namespace is in ``systems`` or its type in ``types``; corroborating when its type is in
    ``corroborating_types`` or its namespace in ``corroborating_systems``; else (untyped, or
    a type neither list names: a vendor's ``MRN``) identifying."""

    types: list[str] = Field(default_factory=lambda: list(IDENTIFYING_TYPES))
    systems: list[str] = Field(default_factory=list)
    corroborating_types: list[str] = Field(default_factory=lambda: list(CORROBORATING_TYPES))
    corroborating_systems: list[str] = Field(default_factory=lambda: list(CORROBORATING_SYSTEMS))


class MatchingConfig(_Model):
    """Identity matching after shared identifiers: for patients only, in rule order."""

    patient: list[MatchRule] = Field(default_factory=_default_rules)
    identifying: IdentifyingConfig = Field(default_factory=IdentifyingConfig)


class HubConfig(_Model):
    hub: HubSettings = Field(default_factory=HubSettings)
    systems: dict[Annotated[str, Field(pattern=_NAME)], SystemConfig] = Field(default_factory=dict)
    clients: dict[str, ClientConfig] = Field(default_factory=dict)
    #: site vocabulary overrides: table name → CSV path
    vocab: dict[str, str] = Field(default_factory=dict)
    matching: MatchingConfig = Field(default_factory=MatchingConfig)
    #: source of truth per entity type and field (``Patient: {names: ehr, "*": ehr}``): a
    #: change from another system to an owned field is a conflict, not applied
    ownership: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: where the file came from (for messages), not part of the YAML
    source: str | None = Field(default=None, exclude=True)

    def destinations(self) -> dict[str, list[str]]:
        """Systems that receive canonical events, with those subscription patterns (raw
        ``hl7v2.…`` patterns are :meth:`raw_routes`)."""
        out: dict[str, list[str]] = {}
        for n, s in self.systems.items():
            canonical = split_subscriptions(s.subscribes)[0]
            if s.outbound is not None and canonical:
                out[n] = canonical
        return out

    def raw_routes(self) -> dict[str, list[str]]:
        """Systems that receive raw HL7 v2 messages passed through (``hub.passthru``), with
        their raw subscription patterns (``hl7v2.ORU.R01``, ``hl7v2.#``)."""
        out: dict[str, list[str]] = {}
        for n, s in self.systems.items():
            raw = split_subscriptions(s.subscribes)[1]
            if s.outbound is not None and raw:
                out[n] = raw
        return out

    def with_overrides(
        self, *, db_url: str | None = None, amqp_url: str | None = None
    ) -> HubConfig:
        """Command-line and environment settings win over the file."""
        hub = self.hub.model_copy(
            update={k: v for k, v in {"db_url": db_url, "amqp_url": amqp_url}.items() if v}
        )
        return self.model_copy(update={"hub": hub})


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str]) -> HubConfig:
    """Read and validate a config file; ``ConfigError`` names the file, line and key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror or exc}") from exc
    return parse_config(text, str(p))


def parse_config(text: str, source: str = "<config>") -> HubConfig:
    try:
        data = yaml.safe_load(text)
        lines = _line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}:1: the config must be a mapping of sections (hub, systems, clients, vocab)"
        )
    try:
        cfg = HubConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, lines)) from exc
    _check_references(cfg, source, lines)
    return cfg.model_copy(update={"source": source})


def _line_map(node: yaml.Node | None) -> dict[tuple[str, ...], int]:
    """Path of keys → 1-based line, for every mapping key and sequence item."""
    out: dict[tuple[str, ...], int] = {}

    def walk(n: yaml.Node, path: tuple[str, ...]) -> None:
        out.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = (*path, str(k.value))
                out[key] = k.start_mark.line + 1
                walk(v, key)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*path, str(i)))

    if node is not None:
        walk(node, ())
    return out


def _describe(exc: ValidationError, source: str, lines: Mapping[tuple[str, ...], int]) -> str:
    problems = []
    for err in exc.errors():
        loc = tuple(str(x) for x in err["loc"] if not _is_union_tag(x))
        line = _nearest_line(loc, lines)
        key = ".".join(loc) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the config reference in the README)"
        elif err["type"] == "missing" and err["loc"][-2:] == ("x12-http", "client"):
            system = loc[1] if len(loc) > 1 else "{system}"
            msg += (
                " (name the API client, under clients:, whose token alone may post to"
                f" /x12/{system})"
            )
        problems.append(f"{source}:{line}: {key}: {msg}")
    return "\n".join(problems)


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the discriminator value (mllp, fhir, …) into the location; drop it
    return isinstance(part, str) and part in {"mllp", "fhir", "x12-inbox", "x12-http", "x12-outbox"}


def _nearest_line(loc: tuple[str, ...], lines: Mapping[tuple[str, ...], int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def _check_references(cfg: HubConfig, source: str, lines: Mapping[tuple[str, ...], int]) -> None:
    for etype, fields in cfg.ownership.items():
        for field, owner in fields.items():
            if owner not in cfg.systems:
                loc: tuple[str, ...] = ("ownership", etype, field)
                raise ConfigError(
                    f"{source}:{_nearest_line(loc, lines)}: ownership.{etype}."
                    f"{field}: no system {owner!r} under systems:"
                )
    for name, system in cfg.systems.items():
        if system.subscribes and system.outbound is None:
            loc = ("systems", name, "subscribes")
            raise ConfigError(
                f"{source}:{_nearest_line(loc, lines)}: systems.{name}.subscribes:"
                " the system subscribes to events but has no outbound endpoint"
            )
        _check_raw_subscriptions(name, system, source, lines)
        for i, port in enumerate(system.inbound):
            client = getattr(port, "client", None)
            if client is not None and client not in cfg.clients:
                loc = ("systems", name, "inbound", str(i), "client")
                raise ConfigError(
                    f"{source}:{_nearest_line(loc, lines)}: "
                    f"systems.{name}.inbound.{i}.client: no client {client!r} "
                    "under clients:"
                )
    _check_shared_tokens(cfg, source, lines)


def _check_raw_subscriptions(
    name: str, system: SystemConfig, source: str, lines: Mapping[tuple[str, ...], int]
) -> None:
    """A raw subscription (``hl7v2.…``) passes the sender's HL7 v2 bytes through as they
    came: only an HL7 v2 (MLLP) outbound can carry them, and the pattern must be able to
    match a raw key (``hl7v2.<MSH-9.1>.<MSH-9.2>``)."""
    for i, pattern in enumerate(system.subscribes):
        if not is_raw_pattern(pattern):
            continue
        loc = ("systems", name, "subscribes", str(i))
        where = f"{source}:{_nearest_line(loc, lines)}: systems.{name}.subscribes.{i}"
        if pattern == RAW_PREFIX:
            raise ConfigError(
                f"{where}: {pattern!r} matches no message: raw keys are"
                f" {RAW_PREFIX}.<MSH-9.1>.<MSH-9.2>; use {RAW_PREFIX}.# for every type"
            )
        if not isinstance(system.outbound, MllpOutbound):
            kind = system.outbound.type if system.outbound is not None else "none"
            raise ConfigError(
                f"{where}: {pattern!r} subscribes to raw HL7 v2 messages, passed through as"
                f" they came, but the outbound of {name} is {kind}, not HL7 v2 (mllp);"
                " subscribe it to canonical event kinds (patient.*, …) instead"
            )


def _check_shared_tokens(cfg: HubConfig, source: str, lines: Mapping[tuple[str, ...], int]) -> None:
    """Two clients naming one token variable would be one identity: the token would sign
    in as whichever is found first. Refused; equal values in two variables are refused at
    start (``carehub.app.access``), where the values are known."""
    first: dict[str, str] = {}
    for cid, client in cfg.clients.items():
        other = first.setdefault(client.token_env, cid)
        if other != cid:
            loc = ("clients", cid, "token_env")
            raise ConfigError(
                f"{source}:{_nearest_line(loc, lines)}: clients.{cid}.token_env: "
                f"{client.token_env} is the token variable of client {other!r} too; "
                "each client needs its own token"
            )


def secret(env_name: str | None, what: str) -> str:
    """Read a secret from the environment. ``what`` names the config key, for the error."""
    if not env_name:
        raise ConfigError(f"{what}: no environment variable named for this secret")
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(f"{what}: environment variable {env_name} is not set")
    return value
