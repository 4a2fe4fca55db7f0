"""A private RabbitMQ node for one fault test: own node name, ports and data directory.

Started with the Debian ``rabbitmq-server`` wrapper in the foreground (we own the process
group), killed with SIGKILL by the pid in its own PID file — never by name — and restarted on
the same data directory. The machine's system broker (5672) and epmd are never touched.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pika

__all__ = ["RabbitNode", "free_port", "rabbitmq_installed"]


def rabbitmq_installed() -> bool:
    return shutil.which("rabbitmq-server") is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


class RabbitNode:
    """``start()``, ``kill9()``, ``restart()``, ``close()``; ``url`` for AMQP clients."""

    def __init__(self, boot_timeout: float = 90.0) -> None:
        self.name = f"carehub-fault-{uuid.uuid4().hex[:8]}@localhost"
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.boot_timeout = boot_timeout
        # not under pytest's tmp_path: its parents are 0700 and the node runs as rabbitmq
        self.base = Path(tempfile.mkdtemp(prefix="carehub-fault-rmq-"))
        self.pid_file = self.base / "node.pid"
        self.log = self.base / "console.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self._prepare()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    def _prepare(self) -> None:
        for sub in ("mnesia", "log"):
            (self.base / sub).mkdir()
        (self.base / "enabled_plugins").write_text("[].\n")
        # the machine's /etc/rabbitmq/rabbitmq.conf pins the listener to 5672: our own file
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.amqp_port}\n"
        )
        user = pwd.getpwnam("rabbitmq")
        os.chmod(self.base, 0o755)
        for path in [self.base, *self.base.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.amqp_port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
        )
        return env

    # ------------------------------------------------------------------ lifecycle

    def start(self, wait: bool = True) -> None:
        """Boot the node in the foreground (our own session) and wait until AMQP answers."""
        assert self._proc is None or self._proc.poll() is not None, "node already running"
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                ["rabbitmq-server"],
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.boot_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"private RabbitMQ node exited at boot; see {self.log}")
            if _port_open(self.amqp_port) and self._handshake():
                return
            time.sleep(0.3)
        raise RuntimeError(f"private RabbitMQ node not up in {self.boot_timeout}s; see {self.log}")

    def _handshake(self) -> bool:
        params = pika.URLParameters(self.url)
        params.connection_attempts = 1
        params.socket_timeout = 2
        try:
            pika.BlockingConnection(params).close()
        except pika.exceptions.AMQPError:
            return False
        return True

    def beam_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def kill9(self) -> None:
        """SIGKILL the node's beam process (pid from its own PID file) and reap our wrapper."""
        pid = self.beam_pid()
        if pid is None:
            raise RuntimeError("the private node wrote no PID file")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self.kills += 1
        self._reap()
        deadline = time.monotonic() + 10
        while _port_open(self.amqp_port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self) -> None:
        self.start()

    def _reap(self) -> None:
        """End what is left of the process group we started (wrapper shells, erl_child_setup)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:  # not reaped yet, so its pid (= our group id) is still ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # our own session: start_new_session=True
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        self._proc = None

    def close(self) -> None:
        """Kill the node (ours only) and remove its directories."""
        pid = self.beam_pid()
        if pid is not None and self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._reap()
        shutil.rmtree(self.base, ignore_errors=True)
