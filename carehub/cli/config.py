"""``carehub check-config``: a config file checked, its systems summed up."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from carehub.app.checks import config_warnings
from carehub.cli.common import EXIT_CODES_HELP, EXIT_USAGE, emit, friendly, json_option
from hub.config import HubConfig, load_config
from hub.errors import CarehubError

__all__ = ["check_config"]


@click.command("check-config", epilog=EXIT_CODES_HELP)
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
    warnings = config_warnings(cfg)
    emit(
        {"ok": True, **summary, "warnings": warnings},
        as_json,
        lambda: _print_config_summary(config_file, summary, warnings),
    )


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


def _print_config_summary(path: Path, summary: dict[str, Any], warnings: list[str]) -> None:
    click.echo(f"{path}: ok — namespace {summary['namespace']}, {len(summary['systems'])} systems")
    for name, s in summary["systems"].items():
        ins = ", ".join(s["inbound"]) or "-"
        subs = ", ".join(s["subscribes"]) or "-"
        click.echo(f"  {name}: in [{ins}]  out [{s['outbound'] or '-'}]  subscribes [{subs}]")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
