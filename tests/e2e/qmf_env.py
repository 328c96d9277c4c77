"""Real processes for end-to-end tests: a RabbitMQ vhost of their own, the broker role, agents.

Each `QmfEnv` gets a fresh vhost on the local RabbitMQ, so tests that restart the broker role or
flood an agent cannot disturb each other, and everything they declared vanishes with the vhost.
Processes are started with the interpreter running the tests and killed at the end.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pika

REPO = Path(__file__).resolve().parents[2]
AMQP_HOST = os.environ.get("QMF_TEST_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("QMF_TEST_PORT", "5672"))
EXAMPLE_AGENT = REPO / "examples" / "qmf_agent.py"

sys.path.insert(0, str(REPO / "examples"))
from local_fleet import Process  # noqa: E402


def check_rabbitmq(host: str = AMQP_HOST, port: int = AMQP_PORT) -> None:
    """Fails loudly (never skips) when RabbitMQ cannot be reached: `./run test` starts it."""
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters(host, port, connection_attempts=1,
                                                                 socket_timeout=5))
        conn.close()
    except Exception as exc:
        raise RuntimeError(f"RabbitMQ is not reachable at {host}:{port} ({exc!r}); these tests need it. "
                           "`./run test` installs and starts it; or run `rabbitmq-server -detached`.") from exc


def rabbitmqctl(*args: str, node: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["rabbitmqctl", *(["-n", node] if node else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=check)


Proc = Process  # one implementation, shared with the func fleet (examples/local_fleet.py)


def ready_banks(proc: Proc) -> tuple[int, int]:
    """(brokerBank, agentBank) from an example agent's `ready <bb>.<ab>` line."""
    bb, ab = proc.wait_for("ready ").split()[1].split(".")
    return int(bb), int(ab)


class QmfEnv:
    """A vhost, a state folder, and the processes started in them."""

    def __init__(self, tmp: Path, host: str = AMQP_HOST, port: int = AMQP_PORT, node: str | None = None) -> None:
        check_rabbitmq(host, port)
        self.vhost = f"qmf-test-{uuid.uuid4().hex[:10]}"
        self.node = node
        rabbitmqctl("add_vhost", self.vhost, node=node)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*", node=node)
        self.url = f"amqp://guest:guest@{host}:{port}/{self.vhost}"
        self.tmp = tmp
        self.procs: list[Proc] = []
        self.broker_role: Proc | None = None

    def start_broker_role(self, heartbeat: float = 1.0, *extra: str, wait: bool = True) -> Proc:
        """Starts the broker role on the env's state folder: a restarted one finds its state again.
        With `wait` (the default) it returns once the role is ready, and becomes `broker_role`."""
        p = Proc([sys.executable, "-m", "qmf.broker_role", "--url", self.url, "--state-dir",
                  str(self.tmp / "broker-role"), "--heartbeat", str(heartbeat), *extra], "qmf-broker")
        self.procs.append(p)
        if wait:
            p.wait_for("qmf-broker ready")
            self.broker_role = p
        return p

    def start_agent(self, name: str, *extra: str, heartbeat: float = 1.0) -> Proc:
        p = Proc([sys.executable, str(EXAMPLE_AGENT), "--name", name, "--url", self.url, "--state-dir",
                  str(self.tmp / "agents"), "--heartbeat", str(heartbeat), *extra], f"agent {name}")
        self.procs.append(p)
        p.wait_for("ready ")
        return p

    def output(self) -> str:
        """What every process started here printed, for failure messages."""
        return "\n".join(p.output() for p in self.procs)

    def close(self) -> None:
        for p in self.procs:
            p.kill()
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            rabbitmqctl("delete_vhost", self.vhost, node=self.node, check=False)
