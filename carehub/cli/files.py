"""``carehub validate``, ``carehub convert`` and ``carehub send``: files of messages.

The file readers, the formats and rich's progress bar are imported inside the commands, for
start-up time: they load the codecs, the checks, the mappings and the FHIR models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from carehub.cli.common import EXIT_CONTENT, EXIT_OK, friendly, json_option, run_async

__all__ = ["convert", "send", "validate"]

files_argument = click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


def _items(files: tuple[Path, ...]) -> list[Any]:
    from carehub.app.files import read_items  # start-up time: see the module docstring

    items: list[Any] = []
    for path in files:
        items.extend(read_items(path))
    return items


def _progress(total: int, enabled: bool) -> Any:
    from rich.console import Console  # start-up time: see the module docstring
    from rich.progress import Progress

    return Progress(disable=not enabled or total < 20, transient=True, console=Console(stderr=True))


@click.command()
@files_argument
@json_option
@friendly
def validate(files: tuple[Path, ...], as_json: bool) -> None:
    """Print the findings per message for HL7 v2, X12 and FHIR JSON files, judged as the hub
    judges them on its ports. Exit 1 when any message has an error."""
    from carehub.app.files import validate_item  # start-up time: see the module docstring

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


@click.command()
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
    """Convert HL7 v2, X12 and FHIR files in bulk. Exit 1 if any message failed."""
    from carehub.app.files import convert_item  # start-up time: see the module docstring

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


@click.command()
@click.argument("target")
@files_argument
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait per ACK.")
@json_option
@friendly
def send(target: str, files: tuple[Path, ...], timeout: float, as_json: bool) -> None:
    """Send the HL7 v2 messages in FILES to mllp://HOST:PORT and print each ACK.
    Exit 1 if any message was not accepted (AA/CA)."""
    from carehub.app.send import send_files  # start-up time: see the module docstring

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
