"""Inbound ports from the config: MLLP listeners (more kinds as adapters land)."""

from __future__ import annotations

import ipaddress
import logging
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from adapters.hl7v2 import Limits
from adapters.hl7v2.server import MllpServer, PeerAllowList
from adapters.x12.inbox import InboxWatcher, Outbox
from carehub.app.hl7v2 import Hl7v2Inbound, mllp_handler, mllp_refuser
from carehub.app.tls import server_context
from carehub.app.x12 import X12Inbound, inbox_handler
from hub.config import HubConfig, MllpInbound, TlsConfig, X12InboxInbound
from hub.errors import ConfigError
from hub.judge import ReusedControlId
from hub.pipeline import Pipeline

__all__ = ["InboundPorts", "RunningPort"]

log = logging.getLogger("carehub.inbound")


@dataclass
class RunningPort:
    system: str
    name: str
    kind: str
    server: MllpServer | InboxWatcher

    @property
    def address(self) -> str:
        if isinstance(self.server, InboxWatcher):
            return f"file://{self.server.path.resolve()}"
        return f"{self.kind}://{self.server.host}:{self.server.port}"


class InboundPorts:
    def __init__(self, config: HubConfig, pipeline: Pipeline):
        self.config = config
        self.pipeline = pipeline
        self.ports: list[RunningPort] = []
        self.hl7v2 = Hl7v2Inbound()

    async def start(self) -> None:
        for system_name, system in self.config.systems.items():
            for i, port in enumerate(system.inbound):
                if isinstance(port, MllpInbound):
                    await self._start_mllp(system_name, port, port.name or f"mllp{i}")
                elif isinstance(port, X12InboxInbound):
                    await self._start_inbox(system_name, port, port.name or f"inbox{i}")

    async def _start_inbox(self, system: str, cfg: X12InboxInbound, name: str) -> None:
        fmt = X12Inbound(self.pipeline.store, partner=system)
        acks = Outbox(cfg.acks_path or str(Path(cfg.path) / "acks"))
        watcher = InboxWatcher(
            cfg.path,
            inbox_handler(self.pipeline, fmt, system=system, port=name),
            outbox=acks,
            poll_seconds=cfg.poll_seconds,
            settle_seconds=cfg.settle_seconds,
            max_file_bytes=cfg.max_file_bytes,
        )
        await watcher.start()
        self.ports.append(RunningPort(system, name, "x12-inbox", watcher))
        log.info("system %s: X12 inbox %s", system, name)

    async def _start_mllp(self, system: str, cfg: MllpInbound, name: str) -> None:
        _check_plaintext(system, cfg)
        fmt = self.hl7v2 if cfg.reading == "liberal" else Hl7v2Inbound(strict=True)
        handler = mllp_handler(
            self.pipeline,
            fmt,
            system=system,
            port=name,
            reused_control_id=ReusedControlId(cfg.reused_control_id),
        )
        server = MllpServer(
            handler,
            cfg.host,
            cfg.port,
            ssl_context=_ssl(cfg.tls, system) if cfg.tls else None,
            allowed_peers=_allow_list(cfg),
            limits=Limits(max_bytes=cfg.max_frame_bytes),
            idle_timeout=cfg.idle_timeout,
            frame_timeout=cfg.frame_timeout,
            max_connections=cfg.max_connections,
            max_connections_per_peer=cfg.max_connections_per_peer,
            first_frame_timeout=cfg.first_frame_timeout,
            refuse=mllp_refuser(self.pipeline, system=system, port=name),
        )
        await server.start()
        self.ports.append(RunningPort(system, name, "mllp", server))
        log.info("system %s: MLLP port %s on %s:%d", system, name, cfg.host, server.port)

    async def stop(self) -> None:
        for port in self.ports:
            if isinstance(port.server, InboxWatcher):
                await port.server.stop()
            else:
                await port.server.close()
        self.ports = []

    def find(self, system: str, kind: str = "mllp") -> RunningPort:
        for port in self.ports:
            if port.system == system and port.kind == kind:
                return port
        raise KeyError(f"{system}/{kind}")


def _check_plaintext(system: str, cfg: MllpInbound) -> None:
    """Plain MLLP only on loopback, unless the config says so explicitly."""
    if cfg.tls is not None or cfg.allow_plaintext:
        return
    try:
        loopback = ipaddress.ip_address(cfg.host).is_loopback
    except ValueError:
        loopback = cfg.host == "localhost"
    if not loopback:
        raise ConfigError(
            f"systems.{system}.inbound: MLLP on {cfg.host} without tls; "
            "configure tls, or set allow_plaintext: true to accept plain MLLP"
        )


_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){31}$")


def _allow_list(cfg: MllpInbound) -> PeerAllowList:
    """Source addresses, and (mutual TLS) client certificate subjects or SHA-256
    fingerprints."""
    clients = cfg.tls.allowed_clients if cfg.tls else []
    prints = [c for c in clients if _FINGERPRINT.match(c)]
    subjects = [c for c in clients if not _FINGERPRINT.match(c)]
    return PeerAllowList.of(ips=cfg.allowed_peers, subjects=subjects, fingerprints=prints)


def _ssl(tls: TlsConfig, system: str) -> ssl.SSLContext:
    """A TLS 1.2+ (or 1.3) server context; with ``require_client_cert``, mutual TLS against
    ``ca`` (the one builder the HTTP server uses too: ``carehub/app/tls.py``)."""
    return server_context(tls, f"systems.{system}.inbound.tls")
