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
an error is one clear line on stderr, never a traceback (``CAREHUB_DEBUG=1`` shows one).
"""

from __future__ import annotations

import click

from carehub.cli.config import check_config
from carehub.cli.coverage import mappings
from carehub.cli.files import convert, send, validate
from carehub.cli.records import reviews, show
from carehub.cli.serve import demo, run
from carehub.cli.traffic import deliveries, messages

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="carehub")
def cli() -> None:
    """Carehub: keeps EHR, billing, payers and vendors in sync over HL7 v2, FHIR R4 and X12."""


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
    cli(prog_name="carehub")
