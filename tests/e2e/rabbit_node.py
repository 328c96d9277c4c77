"""A private RabbitMQ node for the tests that restart RabbitMQ itself.

The machine's RabbitMQ on 5672 serves every other test (and maybe other work), so it is never
stopped: a test that needs the broker to go away and come back gets a node of its own, with its own
name, AMQP and distribution ports (both on 127.0.0.1 only), and its own folder for the database,
logs, pid file, plugins and feature flags.

How it is started, and why this way:

* `rabbitmq-server -detached` as root goes through Debian's wrapper, which re-runs it as the
  `rabbitmq` user with `su` (the environment passes through, HOME becomes /var/lib/rabbitmq). So
  the node's folder must belong to `rabbitmq`, and it must not lie under pytest's tmp folders,
  which are private to root (mode 0700): it is made with `tempfile.mkdtemp` in the system tmp dir.
* `rabbitmqctl` as root goes through the same wrapper, so CLI and server both read the Erlang
  cookie in /var/lib/rabbitmq: nothing to copy. (Run as the `rabbitmq` user, the same holds.)
* The machine's /etc/rabbitmq/rabbitmq.conf pins the listener to 5672, so the node gets a config
  file of its own (RABBITMQ_CONFIG_FILE) naming its port; RABBITMQ_NODE_PORT is set too.
* `-detached` returns at once; `rabbitmqctl await_startup` fails until the node has registered with
  epmd, so it is retried until the node answers or the deadline passes (then the log is shown).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

import pika


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeError(RuntimeError):
    """The private node could not be started, restarted or stopped; the message carries its log."""


class RabbitNode:
    """One private RabbitMQ node: `start()`, `restart_app()`, `restart_node()`, `shutdown()`.

    Use it as a context manager (or call `shutdown()` in a `finally`): the node is a detached OS
    process that would otherwise outlive the tests."""

    def __init__(self, startup_timeout: float = 90.0) -> None:
        self.name = f"qmftest-{uuid.uuid4().hex[:8]}@localhost"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.dist_port = free_port()
        while self.dist_port == self.port:
            self.dist_port = free_port()
        self.startup_timeout = startup_timeout
        self.base = Path(tempfile.mkdtemp(prefix="qmf-rabbit-"))
        self.started = False

    # -- what the tests use -----------------------------------------------------------------------
    def url(self, vhost: str = "%2F") -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/{vhost}"

    def start(self) -> None:
        """Starts the node (a fresh one, or the same one again on the same port and database) and
        returns once it accepts AMQP connections."""
        self._prepare()
        env = {**os.environ, **self._env()}
        proc = subprocess.run(["rabbitmq-server", "-detached"], env=env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise NodeError(f"rabbitmq-server -detached failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
                            f"{self._log_tail()}")
        self.started = True
        atexit.register(self.shutdown)  # a last resort should the test run die before its teardown
        self._await_startup()

    def stop_app(self) -> None:
        """Stops the RabbitMQ application (every connection is closed, non-durable queues vanish);
        the Erlang node stays up."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self._await_startup()

    def restart_app(self, down: float = 1.0) -> None:
        """stop_app, `down` seconds with nothing listening, start_app: a broker restart as clients see it."""
        self.stop_app()
        time.sleep(down)
        self.start_app()

    def restart_node(self, down: float = 0.5) -> None:
        """The whole node stopped and started again on the same port and database."""
        self.shutdown(cleanup=False)
        time.sleep(down)
        self.start()

    def shutdown(self, cleanup: bool = True) -> None:
        """Stops the node (by `rabbitmqctl shutdown`, else by killing its pid) and, with `cleanup`,
        removes its folder. Safe to call more than once."""
        if self.started:
            res = self.ctl("shutdown", check=False, timeout=60)
            if res.returncode != 0 or self._pid_alive():
                self._kill()
            self.started = False
            atexit.unregister(self.shutdown)
        if cleanup:
            shutil.rmtree(self.base, ignore_errors=True)

    def ctl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`rabbitmqctl -n <this node> args...`; with `check`, a failure raises with its output."""
        res = subprocess.run(["rabbitmqctl", "-n", self.name, *args], capture_output=True, text=True,
                             timeout=timeout)
        if check and res.returncode != 0:
            raise NodeError(f"rabbitmqctl {' '.join(args)} on {self.name} failed ({res.returncode}):\n"
                            f"{res.stdout}{res.stderr}{self._log_tail()}")
        return res

    def __enter__(self) -> RabbitNode:
        try:
            self.start()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()

    # -- inside -----------------------------------------------------------------------------------
    def _prepare(self) -> None:
        for sub in ("mnesia", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        # loopback_users keeps guest to local logins, as RabbitMQ's default does
        (self.base / "rabbitmq.conf").write_text(f"listeners.tcp.default = {self.host}:{self.port}\n"
                                                 "loopback_users.guest = true\n")
        (self.base / "enabled_plugins").write_text("[].\n")
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.base)], check=True, capture_output=True)

    def _env(self) -> dict[str, str]:
        return {
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.base / "feature_flags"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            # the distribution port on loopback only, whatever the machine's rabbitmq-env.conf says
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def _await_startup(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = ""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NodeError(f"RabbitMQ node {self.name} did not start within {self.startup_timeout:g} s: "
                                f"{last}{self._log_tail()}")
            res = self.ctl("await_startup", "--timeout", str(max(int(left), 1)), check=False,
                           timeout=left + 10)
            if res.returncode == 0 and self._amqp_answers():
                return
            last = (res.stdout + res.stderr)[-2000:]
            time.sleep(0.3)

    def _amqp_answers(self) -> bool:
        try:
            pika.BlockingConnection(pika.ConnectionParameters(self.host, self.port, connection_attempts=1,
                                                              socket_timeout=5)).close()
        except Exception:
            return False
        return True

    def _pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.base / "rabbitmq.pid").read_text().strip())
        return None

    def _pid_alive(self) -> bool:
        pid = self._pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def _kill(self) -> None:
        pid = self._pid()
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                if not self._pid_alive():
                    break
                time.sleep(0.1)

    def _log_tail(self, lines: int = 40) -> str:
        log = self.base / "log" / f"{self.name}.log"
        try:
            text = log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"\n--- last lines of {log} ---\n" + "\n".join(text)
