"""``carehub mappings coverage``: what the mappings carry and what they drop.

The FHIR mappings are imported inside the command: loading the FHIR models costs every
other command start-up time.
"""

from __future__ import annotations

import click

from carehub.cli.common import emit, fail, friendly, json_option

__all__ = ["mappings"]


@click.group()
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
    from mappings.fhir import coverage_report  # start-up time: see the module docstring

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
