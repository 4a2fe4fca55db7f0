"""The ``carehub`` command: the root group, and the command groups it is made of.

=============  ==========================================================================
``common``     exit codes, one-line errors, shared options (every command uses them)
``config``     ``check-config``
``serve``      ``run`` (the hub from a config) and ``demo`` (the demo clinic)
``files``      ``validate``, ``convert`` and ``send``: files of HL7 v2, X12 and FHIR
``records``    ``show`` and ``reviews``: records as the sync engine keeps them
``traffic``    ``messages`` and ``deliveries``: the message log, what went where
``coverage``   ``mappings coverage``: what the mappings carry and drop
=============  ==========================================================================

One convention for every command: exit 0 when all is well, 1 when the input had content
errors, 2 for usage, configuration or I/O errors; ``--json`` gives machine-readable output;
an error is one clear line on stderr, never a traceback (``CAREHUB_DEBUG=1`` shows one);
output into a closed pipe (``| head``) ends quietly with 141.
"""

from __future__ import annotations

import sys

import click

from carehub.cli.common import EXIT_CODES_HELP, closed_pipe
from carehub.cli.config import check_config
from carehub.cli.coverage import mappings
from carehub.cli.files import convert, send, validate
from carehub.cli.records import reviews, show
from carehub.cli.serve import demo, run
from carehub.cli.traffic import deliveries, messages

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="carehub")
def cli() -> None:
    """Carehub: keeps EHR, billing, payers and vendors in sync over HL7 v2 (MLLP), FHIR R4
    (REST) and X12 5010 EDI.

    \b
    Formats the file commands read (validate, convert; send: HL7 v2 only):
      HL7 v2    messages and FHS/BHS batch files (2.1-2.8)
      X12 5010  interchanges (ISA...IEA): 837P/837I, 835, 270/271, 276/277, 999, ...
      FHIR R4   JSON: one resource or a Bundle
    """


for _command in (
    check_config,
    run,
    demo,
    validate,
    convert,
    send,
    show,
    reviews,
    messages,
    deliveries,
    mappings,
):
    cli.add_command(_command)


def main() -> None:
    """The console script: the ``cli`` group, then stdout flushed while a closed pipe can
    still be handled quietly (not at interpreter shutdown, where it would print "Exception
    ignored")."""
    try:
        try:
            cli.main(prog_name="carehub")
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        closed_pipe()
