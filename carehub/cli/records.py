"""``carehub show`` and ``carehub reviews``: the hub's records as the sync engine keeps them
(state, identifiers per system, versions, decisions) and the matches it left for a person.

``show`` and ``reviews close`` are audited with the user's name."""

from __future__ import annotations

import getpass
import json
from typing import Any

import click

from carehub.cli.common import (
    EXIT_CODES_HELP,
    EXIT_CONTENT,
    db_option,
    emit,
    fail,
    friendly,
    json_option,
    store_call,
)
from hub.canonical import EntityType

__all__ = ["reviews", "show"]

_TYPES = {
    **{e.value.lower(): e.value for e in EntityType},
    "purchase-order": "PurchaseOrder",
}


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("entity_type", metavar="TYPE")
@click.argument("ident", metavar="ID")
@db_option
@json_option
@friendly
def show(entity_type: str, ident: str, db_url: str | None, as_json: bool) -> None:
    """One record: its current state, its identifiers per system, and every change with its
    source. TYPE is patient, practitioner, appointment, claim, coverage, … ID is the
    canonical id, an identifier value (an MRN, a member id), or NAMESPACE|VALUE."""
    etype = _TYPES.get(entity_type.lower().replace("_", "-"))
    if etype is None:
        fail(f"unknown type {entity_type!r}; one of: {', '.join(sorted(_TYPES))}")
    found = store_call(db_url, lambda s: _show(s, etype, ident))
    if isinstance(found, str):
        fail(found, EXIT_CONTENT)

    def human() -> None:
        _print_record(found)

    emit(found, as_json, human)


async def _show(store: Any, etype: str, ident: str) -> dict[str, Any] | str:
    record = await store.get_entity(etype, ident)
    if record is None:
        ns, _, value = ident.rpartition("|")
        ids = await store.find_by_identifier(etype, value, ns or None)
        if not ids:
            return f"no {etype} with id or identifier {ident!r}"
        if len(ids) > 1:
            return f"{ident!r} names {len(ids)} {etype} records: " + ", ".join(ids)
        record = await store.get_entity(etype, ids[0])
        if record is None:
            return f"{etype} {ids[0]} is known by {ident!r} but no message about it arrived yet"
    versions = await store.entity_history(etype, record.id)
    decisions = await store.sync_history(etype, record.id)
    reviews = [
        r
        for r in await store.reviews(status=None)
        if r["entity_type"] == etype
        and (r["record_id"] == record.id or record.id in r["candidates"])
    ]
    await store.audit(
        actor=f"cli:{getpass.getuser()}",
        action="read",
        outcome="ok",
        subject=f"{etype}/{record.id}",
    )
    return {
        "type": etype,
        "id": record.id,
        "version": record.version,
        "merged_into": record.merged_into,
        "state": record.data,
        "identifiers": await store.identifiers_of(etype, record.id),
        "versions": [
            {
                "version": v.version,
                "at": v.updated_at.isoformat(),
                "source": v.source,
                "event": (v.data.get("meta") or {}).get("recorded_at"),
            }
            for v in versions
        ],
        "decisions": decisions,
        "reviews": reviews,
    }


def _print_record(r: dict[str, Any]) -> None:
    hidden = ("meta", "identifiers", "id", "entity_type")
    state = {k: v for k, v in r["state"].items() if k not in hidden}
    click.echo(f"{r['type']}/{r['id']}  version {r['version']}")
    if r["merged_into"]:
        click.echo(f"  merged into {r['type']}/{r['merged_into']}")
    click.echo("state:")
    for key, value in state.items():
        if value not in (None, [], {}, ""):
            click.echo(f"  {key}: {json.dumps(value, default=str)}")
    click.echo("identifiers (per system):")
    for i in r["identifiers"]:
        click.echo(f"  {i['namespace']:<40} {i['value']:<20} from {i['source'] or '-'}")
    click.echo("history:")
    for v in r["versions"]:
        stamp = f" (stamped {v['event']})" if v["event"] else ""
        click.echo(f"  v{v['version']}  {v['at'][:19]}  from {v['source'] or '-'}{stamp}")
    if r["decisions"]:
        click.echo("sync decisions:")
        for d in r["decisions"]:
            detail = f" — {d['detail']}" if d["detail"] else ""
            click.echo(
                f"  {d['at'][:19]}  {d['outcome']:<10} {d['event'] or '-':<22} "
                f"from {d['source'] or '-'}{detail}"
            )
    for rv in r["reviews"]:
        click.echo(
            f"review {rv['id']} ({rv['status']}): {rv['record_id']} may be "
            f"{', '.join(rv['candidates'])} — {rv['rule']}"
        )


@click.group(invoke_without_command=True, epilog=EXIT_CODES_HELP)
@click.option("--all", "show_all", is_flag=True, help="Closed reviews too.")
@db_option
@json_option
@click.pass_context
@friendly
def reviews(ctx: click.Context, show_all: bool, db_url: str | None, as_json: bool) -> None:
    """Records the sync engine would not link on its own: an ambiguous demographic match,
    or identifiers naming two records. Nothing is merged silently; a merge comes from the
    source system (ADT^A40, a FHIR Patient link), or ``reviews close ID`` says they differ."""
    if ctx.invoked_subcommand is not None:
        return
    rows = store_call(db_url, lambda s: s.reviews(status=None if show_all else "open"))

    def human() -> None:
        for r in rows:
            click.echo(
                f"{r['id']:>5}  {r['at'][:19]}  {r['status']:<8} {r['entity_type']}/"
                f"{r['record_id']} may be {', '.join(r['candidates'])} — {r['rule']}"
            )
        click.echo(f"{len(rows)} reviews")

    emit(rows, as_json, human)


@reviews.command("close", epilog=EXIT_CODES_HELP)
@click.argument("review_id", type=int)
@click.option(
    "--as",
    "verdict",
    type=click.Choice(["distinct", "merged"]),
    default="distinct",
    show_default=True,
    help="distinct: different records, leave them apart; merged: merged at the source.",
)
@db_option
@friendly
def reviews_close(review_id: int, verdict: str, db_url: str | None) -> None:
    """Close an open review."""

    async def close(store: Any) -> bool:
        done = bool(await store.close_review(review_id, verdict))
        await store.audit(
            actor=f"cli:{getpass.getuser()}",
            action="review",
            outcome=verdict if done else "not-open",
            subject=f"review/{review_id}",
        )
        return done

    if not store_call(db_url, close):
        fail(f"no open review {review_id}", EXIT_CONTENT)
    click.echo(f"review {review_id} closed as {verdict}")
