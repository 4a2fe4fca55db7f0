"""The demo's live display (rich) and its summary."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from carehub.demo.clinic import DemoSummary, run_demo
from hub.store import display_url

__all__ = ["run_demo_console"]


def _table(s: DemoSummary) -> Table:
    table = Table(title=f"Carehub demo clinic — {s.seconds:.1f}s", expand=False)
    table.add_column("flow")
    table.add_column("count", justify="right")
    rate = (s.sent / s.seconds) if s.seconds else 0.0
    table.add_row("EHR → hub: ADT messages sent over MLLP", f"{s.sent}  ({rate:.0f}/s)")
    table.add_row("  acknowledged AA (stored + confirmed)", str(s.accepted))
    table.add_row("  refused (AE/AR)", str(s.rejected))
    table.add_row("canonical events applied", str(s.events))
    table.add_row("hub → billing: FHIR deliveries due", str(s.expected_deliveries))
    table.add_row("  delivered", f"[green]{s.delivered}[/green]")
    table.add_row("  retrying", f"[yellow]{s.retrying}[/yellow]")
    table.add_row("  parked (failed)", f"[red]{s.failed}[/red]")
    return table


def _line(s: DemoSummary) -> str:
    return (
        f"{s.seconds:.0f}s: received {s.sent}, accepted {s.accepted}, delivered "
        f"{s.delivered}/{s.expected_deliveries}, retrying {s.retrying}, failed {s.failed}"
    )


def _where(s: DemoSummary) -> Panel:
    db = display_url(s.db_url)
    lines = [
        f"store:      {db}   transport: {s.transport}",
        f"EHR port:   mllp://127.0.0.1:{s.mllp_port}   "
        f"(try: carehub send mllp://127.0.0.1:{s.mllp_port} FILE.hl7)",
        f"billing:    {s.fhir_sink}/Patient/<id>",
        f"messages:   carehub messages list --db-url {db}",
        f"deliveries: carehub deliveries --db-url {db}",
    ]
    return Panel("\n".join(lines), title="where to look", expand=False)


async def run_demo_console(
    *,
    once: bool,
    messages: int,
    connections: int,
    data_dir: Path,
    time_limit: float,
    amqp_url: str | None,
    namespace: str = "carehub-demo",
    db_url: str | None,
    as_json: bool,
) -> DemoSummary:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pika").setLevel(logging.ERROR)
    console = Console(stderr=as_json)
    interactive = console.is_terminal and not as_json
    state: dict[str, DemoSummary] = {}

    def ready(summary: DemoSummary) -> None:
        state["s"] = summary
        if not as_json:
            console.print(_where(summary))
            if not once:
                console.print("Running until Ctrl-C; a new patient arrives every 2 s.")

    live = Live(console=console, refresh_per_second=4, transient=False) if interactive else None

    last_line = [0.0]

    def progress(summary: DemoSummary) -> None:
        if live is not None:
            live.update(Group(_table(summary)))
        elif not as_json and summary.seconds - last_line[0] >= 5:
            last_line[0] = summary.seconds
            console.print(_line(summary))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C ends the demo with its summary
        loop.add_signal_handler(sig, stop.set)
    if live is not None:
        live.start()
    try:
        summary = await run_demo(
            once=once,
            messages=messages,
            connections=connections,
            data_dir=data_dir,
            db_url=db_url,
            amqp_url=amqp_url,
            namespace=namespace,
            time_limit=time_limit,
            progress=progress,
            on_ready=ready,
            stop=stop,
        )
    finally:
        if live is not None:
            live.stop()
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict(), indent=2, default=str) + "\n")
    else:
        if live is None:
            console.print(_table(summary))
        verdict = "[green]all delivered[/green]" if summary.ok else "[red]NOT all delivered[/red]"
        console.print(
            f"received {summary.sent}, accepted {summary.accepted}, delivered "
            f"{summary.delivered}/{summary.expected_deliveries}, failed "
            f"{summary.failed} — {verdict}"
        )
    return summary
