"""The ``carehub`` command.

One convention for every command: exit 0 when all is well, 1 when the input had content
errors, 2 for usage, configuration or I/O errors; ``--json`` gives machine-readable output;
an error is one clear line on stderr, never a traceback (``CAREHUB_DEBUG=1`` shows one).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

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
    from hub.app.run import run_forever

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
@click.option("--timeout", default=180.0, show_default=True, help="Give up after seconds.")
@amqp_option
@db_option
@json_option
@friendly
def demo(
    once: bool,
    messages: int,
    connections: int,
    data_dir: Path,
    timeout: float,
    amqp_url: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Run a demo clinic: a simulated EHR registers patients over MLLP, billing receives
    them as FHIR. Embedded defaults: SQLite and the in-process transport."""
    from hub.demo.console import run_demo_console

    summary = run_async(
        run_demo_console(
            once=once,
            messages=messages,
            connections=connections,
            data_dir=data_dir,
            time_limit=timeout,
            amqp_url=amqp_url,
            db_url=db_url,
            as_json=as_json,
        )
    )
    if once and not summary.ok:
        sys.exit(EXIT_CONTENT)


def main() -> None:
    cli(prog_name="carehub")


if __name__ == "__main__":  # pragma: no cover
    main()
