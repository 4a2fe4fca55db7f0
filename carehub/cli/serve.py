"""``carehub run`` and ``carehub demo``: the hub itself, from a config or as the demo clinic.

The hub and the demo are imported inside the commands: they pull in aiohttp, pika and
SQLAlchemy, which every other command would otherwise pay for at start-up.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from carehub.cli.common import (
    EXIT_CODES_HELP,
    EXIT_CONTENT,
    amqp_option,
    db_option,
    friendly,
    json_option,
    run_async,
)
from hub.config import load_config

__all__ = ["demo", "run"]


@click.command(epilog=EXIT_CODES_HELP)
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
    from carehub.app.run import run_forever  # start-up time: see the module docstring

    cfg = load_config(config_file).with_overrides(db_url=db_url, amqp_url=amqp_url)
    run_async(run_forever(cfg))


@click.command(epilog=EXIT_CODES_HELP)
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
    from carehub.demo.console import run_demo_console  # start-up time: see the docstring

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
