"""What every command shares: the exit codes, one-line errors, the common options and the
``--json`` switch.

One convention for every command: exit 0 when all is well, 1 when the input had content
errors, 2 for usage, configuration or I/O errors; ``--json`` gives machine-readable output;
an error is one clear line on stderr, never a traceback (``CAREHUB_DEBUG=1`` shows one).
Output piped into a reader that stops early (``carehub validate *.hl7 | head -1``) ends the
command quietly with 141 (128 + SIGPIPE), what a shell reports for a Unix tool in that case.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from hub.errors import CarehubError

__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_CONTENT",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_USAGE",
    "amqp_option",
    "closed_pipe",
    "db_option",
    "emit",
    "fail",
    "friendly",
    "json_option",
    "run_async",
    "store_call",
]

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK, EXIT_CONTENT, EXIT_USAGE = 0, 1, 2
#: the reader of stdout went away: what a shell reports for a tool ended by SIGPIPE
EXIT_PIPE = 128 + int(getattr(signal, "SIGPIPE", 13))

#: the epilog of the commands' --help (\b keeps click from re-wrapping it)
EXIT_CODES_HELP = (
    "\b\nExit codes: 0 all is well; 1 the input had content errors (a message or a file);\n"
    "2 usage, configuration or I/O errors; 141 the output pipe was closed (| head)."
)


def closed_pipe() -> NoReturn:
    """stdout's reader went away (``| head``): stop at once and quietly, as a Unix tool does.
    stdout is pointed at /dev/null first, so that the interpreter's last flush of what is
    still buffered does not fail again ("Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (a test runner's buffer)
        pass
    sys.exit(EXIT_PIPE)


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
        except BrokenPipeError:
            closed_pipe()
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


def store_call(db_url: str | None, fn: Callable[[Any], Coroutine[Any, Any, R]]) -> R:
    """Open the store, run ``fn`` on it, close it."""
    # imported here for start-up time: SQLAlchemy is only needed by the store commands
    from hub.store import SqlStore

    async def go() -> R:
        store = await SqlStore.open(db_url)
        try:
            return await fn(store)
        finally:
            await store.close()

    return run_async(go())


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
