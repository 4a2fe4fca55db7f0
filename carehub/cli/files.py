"""``carehub validate``, ``carehub convert`` and ``carehub send``: files of messages.

Each file is read on its own: a missing, unreadable, empty or unrecognised file is a content
error reported for that file (exit 1), and the other files are still judged and reported;
exit 2 is for usage errors only.

The file readers, the formats and rich's progress bar are imported inside the commands, for
start-up time: they load the codecs, the checks, the mappings and the FHIR models.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from carehub.cli.common import (
    EXIT_CODES_HELP,
    EXIT_CONTENT,
    EXIT_OK,
    friendly,
    json_option,
    run_async,
)

__all__ = ["convert", "send", "validate"]

#: not ``exists=True``: a missing file among several is reported for that file (exit 1),
#: not a usage error that hides the others' results
files_argument = click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))


def _items(files: tuple[Path, ...]) -> list[Any]:
    from carehub.app.files import read_items  # start-up time: see the module docstring

    items: list[Any] = []
    for path in files:
        items.extend(read_items(path))
    return items


def _output_prefixes(files: tuple[Path, ...]) -> list[str]:
    """For each argument, what ``convert --out`` puts before its output names: its position
    in the argument list (``2-``) when another argument has the same name stem (``a/x.hl7``
    and ``b/x.hl7``, ``x.hl7`` and ``x.json``, a file given twice) — so no output overwrites
    another of the same run — else nothing."""
    stems = Counter(path.stem for path in files)
    return [f"{n}-" if stems[path.stem] > 1 else "" for n, path in enumerate(files, 1)]


def _judge(item: Any, judge: Any) -> Any:
    """``judge(item)``; a bug in a codec becomes an error for that message (the others are
    still judged), unless CAREHUB_DEBUG=1 asks to see it."""
    from carehub.app.files import FileVerdict  # start-up time: see the module docstring

    try:
        return judge(item)
    except Exception as exc:
        if os.environ.get("CAREHUB_DEBUG") == "1":
            raise
        out = FileVerdict(item)
        out.report.error(
            "exception",
            f"internal error judging this message ({type(exc).__name__}); "
            "run with CAREHUB_DEBUG=1 to see where",
        )
        return out


def _progress(total: int, enabled: bool) -> Any:
    from rich.console import Console  # start-up time: see the module docstring
    from rich.progress import Progress

    # only on a terminal: into a file or a pipe it would write its last state
    shown = enabled and total >= 20 and sys.stderr.isatty()
    return Progress(disable=not shown, transient=True, console=Console(stderr=True))


def _summary(files: tuple[Path, ...], outcomes: list[Any]) -> str:
    """``2 files (1 unreadable), 3 messages, 3 valid, 0 with errors``."""
    unreadable = sum(1 for o in outcomes if o.item.problem is not None)
    messages = [o for o in outcomes if o.item.problem is None]
    bad = sum(1 for o in messages if not o.ok)
    head = f"{len(files)} file{'s' if len(files) != 1 else ''}"
    if unreadable:
        head += f" ({unreadable} unreadable)"
    n = len(messages)
    return f"{head}, {n} message{'s' if n != 1 else ''}, {n - bad} valid, {bad} with errors"


@click.command(
    epilog=EXIT_CODES_HELP,
    short_help="Judge HL7 v2, X12 5010 and FHIR R4 JSON files as the ports do.",
)
@files_argument
@json_option
@friendly
def validate(files: tuple[Path, ...], as_json: bool) -> None:
    """Print the findings per message in FILES: HL7 v2 (messages, FHS/BHS batches), X12 5010
    interchanges and FHIR R4 JSON (a resource or a Bundle).

    Each message is judged as the hub's ports with the default settings judge it (an MLLP
    port for HL7 v2, the X12 inbox, the FHIR API's checks): a message the port would refuse
    (e.g. an HL7 type or trigger the hub does not map, AR 200/201) is an error here too.
    Each file is read on its own: a missing, unreadable, empty or unrecognised file is an
    error for that file, and the other files are still reported."""
    from carehub.app.files import validate_item  # start-up time: see the module docstring

    items = _items(files)
    outcomes = []
    with _progress(len(items), not as_json) as bar:
        task = bar.add_task("validating", total=len(items))
        for item in items:
            outcomes.append(_judge(item, validate_item))
            bar.advance(task)
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in outcomes], indent=2))
    else:
        for o in outcomes:
            _print_outcome(o)
        click.echo(_summary(files, outcomes))
    sys.exit(EXIT_OK if all(o.ok for o in outcomes) else EXIT_CONTENT)


def _print_outcome(o: Any, err: bool = False) -> None:
    where = f"{o.item.path}:{o.item.line}"
    if o.item.problem is not None:
        click.echo(f"{where}: ERROR: {o.item.problem}", err=err)
        return
    label = " ".join(x for x in (o.key, o.control_id) if x) or o.item.format
    status = "ok" if o.ok else "ERROR"
    if o.answer:
        status += f" ({o.answer})"
    kinds = ", ".join(e.kind.value for e in o.events)
    click.echo(f"{where}: {label}: {status}" + (f" → {kinds}" if kinds else ""), err=err)
    for f in o.report.findings:
        loc = f" {f.location}" if f.location else ""
        click.echo(f"  {f.severity.value}{loc}: {f.text}", err=err)


@click.command(
    epilog=EXIT_CODES_HELP,
    short_help="Convert HL7 v2, X12 5010 and FHIR R4 JSON files in bulk.",
)
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
    """Convert the messages in FILES (HL7 v2, X12 5010, FHIR R4 JSON) in bulk: to FHIR R4
    JSON, canonical JSON, HL7 v2 or X12 5010.

    Each message is judged as by `carehub validate` first; one that fails is reported
    (on stderr when the output goes to stdout) and not converted. A missing, unreadable,
    empty or unrecognised file is an error for that file; the others are still converted."""
    from carehub.app.files import convert_item  # start-up time: see the module docstring

    items: list[Any] = []
    positions: list[int] = []  # the argument each item came from
    for position, path in enumerate(files):
        found = _items((path,))
        items += found
        positions += [position] * len(found)
    prefixes = _output_prefixes(files)
    results = []
    with _progress(len(items), out_dir is not None and not as_json) as bar:
        task = bar.add_task(f"converting to {target}", total=len(items))
        for item in items:
            results.append(_judge(item, lambda i: convert_item(i, target)))
            bar.advance(task)
    written = 0
    for position, r in zip(positions, results, strict=True):
        for name, data in r.outputs:
            written += 1
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"{prefixes[position]}{name}").write_bytes(data)
            elif not as_json:
                click.echo(data.decode("utf-8", "replace").replace("\r", "\n"))
    failed = [r for r in results if not r.ok]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in failed:
            _print_outcome(r, err=out_dir is None)
        click.echo(f"{_summary(files, results)}, {written} outputs", err=out_dir is None)
    sys.exit(EXIT_CONTENT if failed else EXIT_OK)


@click.command(
    epilog=EXIT_CODES_HELP,
    short_help="Send HL7 v2 files (not X12, FHIR) to an MLLP port; print ACKs.",
)
@click.argument("target")
@files_argument
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait per ACK.")
@json_option
@friendly
def send(target: str, files: tuple[Path, ...], timeout: float, as_json: bool) -> None:
    """Send the HL7 v2 messages in FILES (messages or FHS/BHS batches) to TARGET
    (mllp://HOST:PORT), one at a time, and print each ACK.

    X12 5010 and FHIR R4 files are not sent over MLLP (X12 goes to a partner's inbox or
    POST /x12/{system}, FHIR to the FHIR API): they are reported as not sent, as is a
    missing, unreadable, empty or unrecognised file. Exit 1 if any message was not
    accepted (AA/CA) or not sent."""
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
