"""``carehub send mllp://HOST:PORT FILE...``: send HL7 v2 messages and report each ACK."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.files import FileItem, read_items
from hub.errors import CarehubError, ConfigError

__all__ = ["SendResult", "send_files"]


@dataclass
class SendResult:
    path: str
    line: int
    control_id: str | None
    code: str | None  # MSA-1
    text: str | None  # MSA-3 / ERR-8, or why there was no answer

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accepted": self.accepted}


def _target(url: str) -> tuple[str, int]:
    u = urlparse(url)
    if u.scheme != "mllp" or not u.hostname or not u.port:
        raise ConfigError(f"{url!r}: expected mllp://HOST:PORT")
    return u.hostname, u.port


async def send_files(url: str, files: tuple[Path, ...], *, ack_wait: float) -> list[SendResult]:
    host, port = _target(url)
    client = MllpClient(host, port, timeout=ack_wait)
    results = []
    try:
        for path in files:
            for item in read_items(path):
                if item.format == "hl7v2":
                    results.append(await _send_one(client, item))
                elif item.problem is not None or item.format in ("x12", "fhir"):
                    # reported, never sent; the other files are still sent
                    why = item.problem or f"not sent: {item.format} is not HL7 v2"
                    results.append(SendResult(str(item.path), item.line, None, None, why))
                # else the file's FHS/BHS batch envelope: its messages are sent one by one
    finally:
        await client.close()
    return results


async def _send_one(client: MllpClient, item: FileItem) -> SendResult:
    try:
        control = parse(item.raw).control_id
    except CarehubError:
        control = None
    try:
        ack = parse(await client.send(item.raw))
    except CarehubError as exc:
        return SendResult(str(item.path), item.line, control, None, str(exc))
    text = ack["ERR-8"] or ack["MSA-3"] or ack["ERR-3.2"]
    return SendResult(str(item.path), item.line, control, ack["MSA-1"], text)
