"""``carehub mappings coverage``: what the mappings carry and what they drop (FHIR), and
which HL7 v2 message types and triggers are mapped to which events (``--hl7v2``).

The FHIR mappings are imported inside the command: loading the FHIR models costs every
other command start-up time.
"""

from __future__ import annotations

from typing import Any

import click

from carehub.cli.common import EXIT_CODES_HELP, emit, fail, friendly, json_option

__all__ = ["mappings"]


@click.group(epilog=EXIT_CODES_HELP)
def mappings() -> None:
    """What the mappings carry between HL7 v2, X12 5010, FHIR R4 and the canonical model."""


@mappings.command(
    "coverage",
    epilog=EXIT_CODES_HELP,
    short_help="FHIR elements carried and dropped; --hl7v2: HL7 v2 types/triggers mapped.",
)
@click.argument("types", nargs=-1)
@click.option(
    "--dropped", "show_dropped", is_flag=True, help="List every dropped element path (long)."
)
@click.option(
    "--hl7v2",
    "hl7v2",
    is_flag=True,
    help="HL7 v2 message types and triggers (ADT, ADT^A04) instead of FHIR resource types.",
)
@json_option
@friendly
def mappings_coverage(
    types: tuple[str, ...], show_dropped: bool, hl7v2: bool, as_json: bool
) -> None:
    """Per FHIR resource type: which elements the canonical model carries and which are
    dropped. With --hl7v2, per HL7 v2 message type and trigger: mapped or refused, the
    canonical events it raises, the FHIR resource each is written as, and which events an
    HL7 v2 destination gets back as HL7 v2. (X12 5010: see docs/x12-mappings.md.) A hub must
    say what it does not keep."""
    if hl7v2:
        _hl7v2_coverage(types, as_json)
        return
    from mappings.fhir import coverage_report  # start-up time: see the module docstring

    report = coverage_report()
    unknown = [r for r in types if r not in report]
    if unknown:
        fail(f"no mapping for {', '.join(unknown)}; mapped: {', '.join(sorted(report))}")
    chosen = {k: v for k, v in report.items() if not types or k in types}

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
        click.echo("HL7 v2 message types and triggers: carehub mappings coverage --hl7v2")

    emit(chosen, as_json, human)


def _hl7v2_coverage(types: tuple[str, ...], as_json: bool) -> None:
    """``--hl7v2``: every mapped key, or those of TYPES (``ADT`` or ``ADT^A04``); a key no
    mapping takes is shown as refused, with the port's answer."""
    from carehub.app.coverage import hl7v2_coverage  # start-up time: the mappings

    report = hl7v2_coverage()
    inbound: dict[str, Any] = report["inbound"]
    if types:
        wanted = [t.strip().upper() for t in types]
        chosen = {k: v for k, v in inbound.items() if k in wanted or k.split("^")[0] in wanted}
        for key in wanted:
            if not any(k == key or k.split("^")[0] == key for k in chosen):
                code = key.split("^")[0]
                known = any(k.split("^")[0] == code for k in inbound)
                why = report["refused"][f"{code}^*"] if known else report["refused"]["*"]
                chosen[key] = {"mapped": False, "refused": why.split(": ", 1)[1]}
        report = {**report, "inbound": chosen}

    def human() -> None:
        entries = report["inbound"]
        mapped = sum(1 for e in entries.values() if e["mapped"])
        click.echo(f"HL7 v2 in: {mapped} message types/triggers mapped")
        for key, entry in entries.items():
            if not entry["mapped"]:
                click.echo(f"  {key}: not mapped, {entry['refused']}")
                continue
            structure = f" ({entry['structure']})" if entry["structure"] else ""
            if entry["events"] is None:
                click.echo(f"  {key}{structure} → events not declared by {entry['mapping']}")
                continue
            parts = []
            for kind in entry["events"]:
                extra = [entry["fhir"][kind] or "no FHIR resource"]
                if entry["hl7v2_out"][kind]:
                    extra.append(f"HL7 v2 out: {entry['hl7v2_out'][kind]}")
                parts.append(f"{kind} [{', '.join(extra)}]")
            click.echo(f"  {key}{structure} → {', '.join(parts) or 'no events'}")
        if not types:
            for key, why in report["refused"].items():
                click.echo(f"  {key}: {why}")
            click.echo("HL7 v2 out (to an HL7 v2 destination):")
            for kind, out in report["outbound"].items():
                source = ", ".join(out["from_hl7v2"]) or "not from HL7 v2"
                click.echo(f"  {kind} → {out['renderer']} (in from: {source})")

    emit(report, as_json, human)
