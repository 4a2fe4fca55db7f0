"""The ``carehub`` command.

One convention for every command: exit 0 when all is well, 1 when the input had content
errors, 2 for usage, configuration or I/O errors; ``--json`` gives machine-readable output;
an error is one clear line on stderr, never a traceback (``CAREHUB_DEBUG=1`` shows one).
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import json
import math
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from hub.canonical import EntityType
from hub.config import HubConfig, load_config
from hub.errors import CarehubError

__all__ = ["cli", "main"]

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK, EXIT_CONTENT, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"carehub: {message}", err=True)
    sys.exit(code)


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn our errors into one line and an exit code; never show a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CarehubError as exc:
            fail(f"error: {exc}")
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("CAREHUB_DEBUG") == "1":
                raise
            fail(
                f"internal error ({type(exc).__name__}: {exc}); "
                "run with CAREHUB_DEBUG=1 to see where"
            )

    return wrapper


def run_async(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coro)


def emit(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


amqp_option = click.option(
    "--amqp-url",
    envvar="CAREHUB_AMQP_URL",
    default=None,
    help="RabbitMQ URL (amqp://user:pass@host:5672/vhost). Default: the embedded transport.",
)
db_option = click.option(
    "--db-url",
    envvar="CAREHUB_DB_URL",
    default=None,
    help="Database URL (sqlite:///FILE or postgresql://…). Default: SQLite file carehub.db.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="carehub")
def cli() -> None:
    """Carehub: keeps EHR, billing, payers and vendors in sync over HL7 v2, FHIR R4 and X12."""


# --------------------------------------------------------------------------- config


@cli.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@friendly
def check_config(config_file: Path, as_json: bool) -> None:
    """Validate a config file; errors name the file, the line and the key."""
    try:
        cfg = load_config(config_file)
    except CarehubError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "errors": str(exc).splitlines()}, indent=2))
            sys.exit(EXIT_USAGE)
        raise
    summary = _config_summary(cfg)
    emit({"ok": True, **summary}, as_json, lambda: _print_config_summary(config_file, summary))


def _config_summary(cfg: HubConfig) -> dict[str, Any]:
    return {
        "namespace": cfg.hub.namespace,
        "systems": {
            name: {
                "inbound": [p.type for p in s.inbound],
                "outbound": s.outbound.type if s.outbound else None,
                "subscribes": list(s.subscribes),
            }
            for name, s in cfg.systems.items()
        },
        "clients": sorted(cfg.clients),
    }


def _print_config_summary(path: Path, summary: dict[str, Any]) -> None:
    click.echo(f"{path}: ok — namespace {summary['namespace']}, {len(summary['systems'])} systems")
    for name, s in summary["systems"].items():
        ins = ", ".join(s["inbound"]) or "-"
        subs = ", ".join(s["subscribes"]) or "-"
        click.echo(f"  {name}: in [{ins}]  out [{s['outbound'] or '-'}]  subscribes [{subs}]")


# --------------------------------------------------------------------------- run


@cli.command()
@click.option(
    "--config",
    "config_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The hub's YAML config.",
)
@amqp_option
@db_option
@friendly
def run(config_file: Path, amqp_url: str | None, db_url: str | None) -> None:
    """Run the hub described by a config file until interrupted (Ctrl-C or SIGTERM)."""
    from carehub.app.run import run_forever

    cfg = load_config(config_file).with_overrides(db_url=db_url, amqp_url=amqp_url)
    run_async(run_forever(cfg))


@cli.command()
@click.option(
    "--once",
    is_flag=True,
    help="Run the scenario to completion, print a summary, "
    "exit 0 only if everything was delivered.",
)
@click.option("--messages", default=200, show_default=True, help="Patients to register.")
@click.option("--connections", default=4, show_default=True, help="Concurrent MLLP senders.")
@click.option(
    "--data-dir",
    default="carehub-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps its SQLite store.",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Stop after this many seconds (with --once: give up; default 180). "
    "Without --once the demo runs until Ctrl-C.",
)
@click.option(
    "--namespace",
    default="carehub-demo",
    show_default=True,
    help="Prefix of the demo's exchanges and queues on RabbitMQ.",
)
@amqp_option
@db_option
@json_option
@friendly
def demo(
    once: bool,
    messages: int,
    connections: int,
    data_dir: Path,
    timeout: float | None,
    namespace: str,
    amqp_url: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Run a demo clinic: a simulated EHR registers patients over MLLP, billing receives
    them as FHIR. Embedded defaults: SQLite and the in-process transport."""
    from carehub.demo.console import run_demo_console

    summary = run_async(
        run_demo_console(
            once=once,
            messages=messages,
            connections=connections,
            data_dir=data_dir,
            time_limit=timeout if timeout is not None else (180.0 if once else math.inf),
            amqp_url=amqp_url,
            db_url=db_url,
            as_json=as_json,
            namespace=namespace,
        )
    )
    if once and not summary.ok:
        sys.exit(EXIT_CONTENT)


# --------------------------------------------------------------------------- files


files_argument = click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


def _items(files: tuple[Path, ...]) -> list[Any]:
    from carehub.app.files import read_items

    items: list[Any] = []
    for path in files:
        items.extend(read_items(path))
    return items


def _progress(total: int, enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import Progress

    return Progress(disable=not enabled or total < 20, transient=True, console=Console(stderr=True))


@cli.command()
@files_argument
@json_option
@friendly
def validate(files: tuple[Path, ...], as_json: bool) -> None:
    """Print the findings per message for HL7 v2 and FHIR JSON files (X12 once its adapter
    lands). Exit 1 when any message has an error."""
    from carehub.app.files import validate_item

    items = _items(files)
    outcomes = []
    with _progress(len(items), not as_json) as bar:
        task = bar.add_task("validating", total=len(items))
        for item in items:
            outcomes.append(validate_item(item))
            bar.advance(task)
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in outcomes], indent=2))
    else:
        for o in outcomes:
            _print_outcome(o)
    bad = sum(1 for o in outcomes if not o.ok)
    if not as_json:
        click.echo(f"{len(outcomes)} messages, {len(outcomes) - bad} valid, {bad} with errors")
    sys.exit(EXIT_CONTENT if bad else EXIT_OK)


def _print_outcome(o: Any) -> None:
    where = f"{o.item.path}:{o.item.line}"
    label = " ".join(x for x in (o.key, o.control_id) if x) or o.item.format
    status = "ok" if o.ok else "ERROR"
    kinds = ", ".join(e.kind.value for e in o.events)
    click.echo(f"{where}: {label}: {status}" + (f" → {kinds}" if kinds else ""))
    for f in o.report.findings:
        loc = f" {f.location}" if f.location else ""
        click.echo(f"  {f.severity.value}{loc}: {f.text}")


@cli.command()
@files_argument
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Choice(["fhir", "canonical", "hl7v2", "x12"]),
    help="What to produce from each message.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per produced resource, event or message here (default: stdout).",
)
@json_option
@friendly
def convert(files: tuple[Path, ...], target: str, out_dir: Path | None, as_json: bool) -> None:
    """Convert HL7 v2 and FHIR files in bulk. Exit 1 if any message failed."""
    from carehub.app.files import convert_item

    items = _items(files)
    results = []
    with _progress(len(items), out_dir is not None and not as_json) as bar:
        task = bar.add_task(f"converting to {target}", total=len(items))
        for item in items:
            results.append(convert_item(item, target))
            bar.advance(task)
    written = 0
    for r in results:
        for name, data in r.outputs:
            written += 1
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / name).write_bytes(data)
            elif not as_json:
                click.echo(data.decode("utf-8", "replace").replace("\r", "\n"))
    failed = [r for r in results if not r.ok]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in failed:
            _print_outcome(r)
        click.echo(
            f"{len(results)} messages, {written} outputs, {len(failed)} failed", err=out_dir is None
        )
    sys.exit(EXIT_CONTENT if failed else EXIT_OK)


# --------------------------------------------------------------------------- send


@cli.command()
@click.argument("target")
@files_argument
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait per ACK.")
@json_option
@friendly
def send(target: str, files: tuple[Path, ...], timeout: float, as_json: bool) -> None:
    """Send the HL7 v2 messages in FILES to mllp://HOST:PORT and print each ACK.
    Exit 1 if any message was not accepted (AA/CA)."""
    from carehub.app.send import send_files

    results = run_async(send_files(target, files, ack_wait=timeout))
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in results:
            click.echo(
                f"{r.path}:{r.line}: {r.control_id or '-'} → {r.code or 'no answer'}"
                + (f" ({r.text})" if r.text else "")
            )
    sys.exit(EXIT_OK if all(r.accepted for r in results) else EXIT_CONTENT)


# --------------------------------------------------------------------------- the store


def _store_call(db_url: str | None, fn: Callable[[Any], Coroutine[Any, Any, R]]) -> R:
    from hub.store import SqlStore

    async def go() -> R:
        store = await SqlStore.open(db_url)
        try:
            return await fn(store)
        finally:
            await store.close()

    return run_async(go())


_TYPES = {
    **{e.value.lower(): e.value for e in EntityType},
    "purchase-order": "PurchaseOrder",
}


@cli.command()
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
    found = _store_call(db_url, lambda s: _show(s, etype, ident))
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


@cli.group(invoke_without_command=True)
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
    rows = _store_call(db_url, lambda s: s.reviews(status=None if show_all else "open"))

    def human() -> None:
        for r in rows:
            click.echo(
                f"{r['id']:>5}  {r['at'][:19]}  {r['status']:<8} {r['entity_type']}/"
                f"{r['record_id']} may be {', '.join(r['candidates'])} — {r['rule']}"
            )
        click.echo(f"{len(rows)} reviews")

    emit(rows, as_json, human)


@reviews.command("close")
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

    if not _store_call(db_url, close):
        fail(f"no open review {review_id}", EXIT_CONTENT)
    click.echo(f"review {review_id} closed as {verdict}")


@cli.group()
def messages() -> None:
    """The raw message log: every message in and out, its status, findings and answer."""


@messages.command("list")
@click.option(
    "--status",
    help="accepted, error, rejected, unsupported, duplicate, unavailable, received, delivered",
)
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
    rows = _store_call(
        db_url,
        lambda s: s.list_messages(status=status, system=system, direction=direction, limit=limit),
    )
    data = [
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


@messages.command("show")
@click.argument("message_id")
@click.option("--raw", "raw_only", is_flag=True, help="Print the raw bytes only.")
@db_option
@json_option
@friendly
def messages_show(message_id: str, raw_only: bool, db_url: str | None, as_json: bool) -> None:
    """One message: its raw bytes as received, status, findings and the answer we gave."""
    m = _store_call(db_url, lambda s: s.get_message(message_id))
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


@cli.command()
@click.option("--destination", help="Only this destination system.")
@click.option("--status", help="delivered, retrying, parked, skipped")
@click.option("--limit", default=100, show_default=True)
@db_option
@json_option
@friendly
def deliveries(
    destination: str | None, status: str | None, limit: int, db_url: str | None, as_json: bool
) -> None:
    """Deliveries per destination: what was sent where, and what failed."""
    rows = _store_call(
        db_url, lambda s: s.list_deliveries(destination=destination, status=status, limit=limit)
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


# --------------------------------------------------------------------------- mappings


@cli.group()
def mappings() -> None:
    """What the mappings carry between the formats and the canonical model."""


@mappings.command("coverage")
@click.argument("resource_types", nargs=-1)
@click.option(
    "--dropped", "show_dropped", is_flag=True, help="List every dropped element path (long)."
)
@json_option
@friendly
def mappings_coverage(resource_types: tuple[str, ...], show_dropped: bool, as_json: bool) -> None:
    """Per FHIR resource type: which elements the canonical model carries and which are
    dropped. A hub must say what it does not keep."""
    from mappings.fhir import coverage_report

    report = coverage_report()
    unknown = [r for r in resource_types if r not in report]
    if unknown:
        fail(f"no mapping for {', '.join(unknown)}; mapped: {', '.join(sorted(report))}")
    chosen = {k: v for k, v in report.items() if not resource_types or k in resource_types}

    def human() -> None:
        for rtype, info in sorted(chosen.items()):
            click.echo(
                f"{rtype} → {', '.join(info['entity_types']) or '-'}: "
                f"{len(info['carried'])} element paths carried, "
                f"{len(info['dropped'])} dropped"
            )
            for note in info.get("notes", []):
                click.echo(f"  note: {note}")
            if show_dropped:
                for path in info["dropped"]:
                    click.echo(f"  dropped: {path}")

    emit(chosen, as_json, human)


def main() -> None:
    cli(prog_name="carehub")


if __name__ == "__main__":  # pragma: no cover
    main()
