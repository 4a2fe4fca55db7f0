"""``carehub messages`` and ``carehub deliveries``: the raw message log (every message in
and out, its status, findings and answer) and what was delivered where.

The message log holds raw PHI: ``messages list`` and ``messages show`` are audited as reads
(actor ``cli:<OS user>``, peer ``cli@<host>``) before anything is printed; when the record
cannot be written, nothing is shown."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import click

from carehub.cli.common import (
    EXIT_CODES_HELP,
    db_option,
    emit,
    fail,
    friendly,
    json_option,
    store_call,
)
from hub.errors import StoreUnavailable
from hub.records import DeliveryStatus, MessageRecord, MessageStatus

if TYPE_CHECKING:  # the store is imported when a command opens it (start-up time)
    from hub.store import SqlStore

__all__ = ["deliveries", "messages"]

S = TypeVar("S", MessageStatus, DeliveryStatus)


def _who() -> tuple[str, str]:
    """The audit actor and peer of this command: the OS user and the host it runs on."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container's bare uid): say the uid
        user = f"uid:{os.getuid()}"
    return f"cli:{user}", f"cli@{socket.gethostname()}"


async def _audit_read(store: SqlStore, subject: str, outcome: str, detail: str | None) -> None:
    """Record the read before anything is shown; no record, no output (a clear error)."""
    actor, peer = _who()
    try:
        await store.audit(
            actor=actor, action="read", outcome=outcome, subject=subject, peer=peer, detail=detail
        )
    except Exception as exc:
        raise StoreUnavailable(
            f"the read could not be written to the audit trail ({exc}); nothing is shown"
        ) from exc


def _status(vocabulary: type[S], value: str | None) -> S | None:
    """The ``--status`` filter as its enum (click has checked it is one of its values)."""
    return None if value is None else vocabulary(value)


@click.group(epilog=EXIT_CODES_HELP)
def messages() -> None:
    """The raw message log: every message in and out, its status, findings and answer."""


@messages.command("list", epilog=EXIT_CODES_HELP)
@click.option("--status", type=click.Choice([s.value for s in MessageStatus]))
@click.option("--system", help="Only this partner system.")
@click.option("--direction", type=click.Choice(["in", "out"]))
@click.option("--limit", default=50, show_default=True)
@db_option
@json_option
@friendly
def messages_list(
    status: str | None,
    system: str | None,
    direction: str | None,
    limit: int,
    db_url: str | None,
    as_json: bool,
) -> None:
    """The newest messages first. Shows ids, never content (use ``messages show``)."""

    async def listed(store: SqlStore) -> list[MessageRecord]:
        found = await store.list_messages(
            status=_status(MessageStatus, status), system=system, direction=direction, limit=limit
        )
        filters = [
            f"{k}={v}"
            for k, v in (("status", status), ("system", system), ("direction", direction))
            if v
        ]
        detail = " ".join([f"{len(found)} listed", *filters])
        await _audit_read(store, "messages", "ok", detail)
        return found

    rows = store_call(db_url, listed)
    data: list[dict[str, Any]] = [
        {
            "id": m.id,
            "received_at": m.received_at.isoformat(),
            "direction": m.direction,
            "system": m.system,
            "format": m.format,
            "message": m.message_key,
            "control_id": m.control_id,
            "status": m.status,
            "bytes": m.size,
            "findings": len(m.findings),
        }
        for m in rows
    ]

    def human() -> None:
        for d in data:
            click.echo(
                f"{d['id']}  {d['received_at'][:19]}  {d['direction']:3} "
                f"{d['system']:<12} {d['message'] or '-':<10} {d['status']:<11} "
                f"{d['control_id'] or ''}"
            )
        click.echo(f"{len(data)} messages")

    emit(data, as_json, human)


@messages.command("show", epilog=EXIT_CODES_HELP)
@click.argument("message_id")
@click.option("--raw", "raw_only", is_flag=True, help="Print the raw bytes only.")
@db_option
@json_option
@friendly
def messages_show(message_id: str, raw_only: bool, db_url: str | None, as_json: bool) -> None:
    """One message: its raw bytes as received, status, findings and the answer we gave."""

    async def shown(store: SqlStore) -> MessageRecord | None:
        found = await store.get_message(message_id)
        outcome = "ok" if found is not None else "not-found"
        await _audit_read(
            store, f"message:{message_id}"[:200], outcome, "raw" if raw_only else None
        )
        return found

    m = store_call(db_url, shown)
    if m is None:
        fail(f"no message {message_id}")
    if raw_only:
        sys.stdout.buffer.write(m.raw)
        return
    data = {
        "id": m.id,
        "direction": m.direction,
        "system": m.system,
        "port": m.port,
        "format": m.format,
        "message": m.message_key,
        "control_id": m.control_id,
        "status": m.status,
        "received_at": m.received_at.isoformat(),
        "peer": m.peer,
        "duplicate_of": m.duplicate_of,
        "findings": m.findings,
        "raw": m.raw.decode("utf-8", "replace"),
        "answer": m.ack.decode("utf-8", "replace") if m.ack else None,
    }

    def human() -> None:
        for key in (
            "id",
            "direction",
            "system",
            "port",
            "format",
            "message",
            "control_id",
            "status",
            "received_at",
            "peer",
            "duplicate_of",
        ):
            if data[key]:
                click.echo(f"{key:>12}: {data[key]}")
        for f in m.findings:
            click.echo(
                f"     finding: {f.get('severity')} {f.get('location') or ''} {f.get('text')}"
            )
        click.echo("--- raw ---")
        click.echo(str(data["raw"]).replace("\r", "\n"))
        if data["answer"]:
            click.echo("--- answer ---")
            click.echo(str(data["answer"]).replace("\r", "\n"))

    emit(data, as_json, human)


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--destination", help="Only this destination system.")
@click.option("--status", type=click.Choice([s.value for s in DeliveryStatus]))
@click.option("--limit", default=100, show_default=True)
@db_option
@json_option
@friendly
def deliveries(
    destination: str | None, status: str | None, limit: int, db_url: str | None, as_json: bool
) -> None:
    """Deliveries per destination: what was sent where, and what failed."""
    rows = store_call(
        db_url,
        lambda s: s.list_deliveries(
            destination=destination, status=_status(DeliveryStatus, status), limit=limit
        ),
    )
    data = [
        {
            "envelope_id": d.envelope_id,
            "destination": d.destination,
            "event": d.event_kind,
            "status": d.status,
            "attempts": d.attempts,
            "message_id": d.message_id,
            "detail": d.detail,
            "updated_at": d.updated_at.isoformat(),
        }
        for d in rows
    ]

    def human() -> None:
        for d in data:
            click.echo(
                f"{d['updated_at'][:19]}  {d['destination']:<12} {d['event'] or '-':<24} "
                f"{d['status']:<10} x{d['attempts']}  {d['detail'] or ''}"
            )
        click.echo(f"{len(data)} deliveries")

    emit(data, as_json, human)
