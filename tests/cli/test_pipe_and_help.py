"""``carehub … | head -1`` ends quietly (no "internal error", no traceback, nothing on
stderr) with 141, what a shell reports for a Unix tool whose reader went away; and the help
texts name every format the commands read (X12 among them) and say what the exit codes mean.

The pipe tests run the real command into a real ``head -1`` (or a reader that is gone before
the first byte), with more output than a pipe holds, so the command must write into the
closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from carehub.cli import cli
from carehub.cli.common import EXIT_PIPE

ROOT = Path(__file__).resolve().parents[2]
ADT = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A04|M%d|P|2.5.1\rPID|1||%d^^^H^MR||Doe^Jane||19800101|F\r"


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 messages in a file with a long name: each validate line is ~300 bytes, ~180 KB
    in all, far more than a pipe (64 KiB) and what head reads at once."""
    folder = tmp_path_factory.mktemp("pipe") / ("long-folder-name-" * 10)
    folder.mkdir()
    path = folder / "many.hl7"
    path.write_bytes(b"".join(ADT % (n, n) for n in range(1, 601)))
    return path


def piped(
    args: list[str], reader: list[str], module: bool = True, buffered: bool = False
) -> tuple[int, str, str]:
    """``carehub ARGS | READER`` (``python ARGS | READER`` when not ``module``): the
    command's exit code and stderr, the reader's output. ``buffered``: stdout block-buffered
    as Python makes it for a pipe, whatever PYTHONUNBUFFERED says here."""
    env = {k: v for k, v in os.environ.items() if not (buffered and k == "PYTHONUNBUFFERED")}
    command = subprocess.Popen(
        [sys.executable, *(["-m", "carehub.cli"] if module else []), *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert command.stdout is not None and command.stderr is not None
    head = subprocess.Popen(reader, stdin=command.stdout, stdout=subprocess.PIPE)
    command.stdout.close()  # only the reader holds the pipe's read end
    seen, _ = head.communicate(timeout=120)
    err = command.stderr.read()
    command.stderr.close()
    return command.wait(timeout=120), seen.decode(), err.decode()


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
def test_validate_into_head_ends_quietly(many: Path, buffered: bool):
    code, seen, err = piped(["validate", str(many)], ["head", "-1"], buffered=buffered)
    assert seen == f"{many}:1: ADT^A04 M1: ok (AA) → patient.registered\n"
    assert err == "" and code == EXIT_PIPE == 141


def test_convert_into_head_ends_quietly(many: Path):
    code, seen, err = piped(["convert", "--to", "canonical", str(many)], ["head", "-1"])
    assert seen == "{\n" and err == "" and code == EXIT_PIPE


def test_json_into_a_reader_already_gone_ends_quietly(many: Path):
    """The whole --json document is written at once, after the reader has gone: the
    write fails at once, and nothing is left for the interpreter's last flush."""
    code, seen, err = piped(["validate", "--json", str(many)], ["true"])
    assert seen == "" and err == "" and code == EXIT_PIPE


FORMATS = ("HL7 v2", "X12 5010", "FHIR R4")


@pytest.mark.parametrize("command", [[], ["validate"], ["convert"], ["send"]])
def test_help_names_every_format_and_the_exit_codes(command: list[str]):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # click wraps lines
    for name in FORMATS:
        assert name in text, (command, name)
    assert "Exit codes: 0 all is well; 1 the input had content errors" in text
    assert "2 usage, configuration or I/O errors" in text


def test_the_command_list_says_which_formats_each_file_command_takes():
    text = CliRunner().invoke(cli, ["--help"]).output
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
    assert "X12 5010" in lines["validate"] and "X12 5010" in lines["convert"]
    assert "(not X12, FHIR)" in lines["send"]


# What is still in stdout's buffer when the command ends is written by the last flush: by
# ``main`` while a closed pipe can still be handled, and after ``closed_pipe`` into
# /dev/null — never by the interpreter at shutdown, which would print "Exception ignored …
# BrokenPipeError" and exit 120. The commands write through click.echo, which flushes each
# line; these scripts leave output in the buffer on purpose, for a reader already gone.
UNFLUSHED_THEN_MAIN = """
import sys
from carehub.cli import cli, main

@cli.command("buffered")
def buffered():
    sys.stdout.write("a line\\n")  # in the buffer, not flushed

main()
"""

CLOSED_PIPE_WITH_OUTPUT_LEFT = """
import sys
from carehub.cli.common import closed_pipe

sys.stdout.write("a line\\n")
try:
    sys.stdout.flush()
except BrokenPipeError:  # the line is still in the buffer
    closed_pipe()
"""


@pytest.mark.parametrize(
    ("script", "args"),
    [(UNFLUSHED_THEN_MAIN, ["buffered"]), (CLOSED_PIPE_WITH_OUTPUT_LEFT, [])],
    ids=["main-flushes-what-is-left", "closed-pipe-silences-the-last-flush"],
)
def test_output_left_in_the_buffer_ends_quietly_too(script: str, args: list[str]):
    code, seen, err = piped(["-c", script, *args], ["true"], module=False, buffered=True)
    assert seen == "" and err == "" and code == EXIT_PIPE


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, [*prefix, name])
        else:
            found.append([*prefix, name])
    return found


@pytest.mark.parametrize("command", _commands(cli, []), ids=lambda c: " ".join(c) or "carehub")
def test_every_command_says_what_its_exit_codes_mean(command: list[str]):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Exit codes: 0 all is well" in result.output
