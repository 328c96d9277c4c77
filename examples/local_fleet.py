"""A func fleet on one machine: a CA, the broker role and N funcd minions on a RabbitMQ vhost.

Every piece is the real thing, in its own process: the CA signs each minion's certificate (as
certmaster with autosign), each `funcd` has its own config file, state, certificates, audit log
and XML-RPC port, and the overlord is configured to use the CA's signed certificates as its
inventory and the CA's key to sign its requests (func's defaults). `./run demo`, the end-to-end
tests and the benchmarks build their fleets with it.

    with LocalFleet(Path("/tmp/fleet")) as fleet:
        fleet.start_minions(["web1", "web2", "db1"])
        print(fleet.overlord("web*").test.ping())
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from func_amqp.certs import CAConfig, CertificateAuthority, request_certificate  # noqa: E402
from func_amqp.overlord import config as overlord_config  # noqa: E402
from func_amqp.overlord.client import Overlord, close_all  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child whose output is collected line by line (for ready lines and for failure reports)."""

    def __init__(self, args: list[str], name: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = args
        self.popen = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                                      env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
        assert self.popen.stdout is not None
        self.stdout: IO[str] = self.popen.stdout
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._done = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def wait_for(self, prefix: str, timeout: float = 60.0, start: int = 0) -> str:
        """The first output line (from line `start` on) starting with `prefix`; fails with what the
        process printed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self._done:
                    break
                self._cond.wait(min(left, 0.2))
        raise RuntimeError(f"{self.name} did not print {prefix!r} within {timeout} s (exit {self.popen.poll()}):\n"
                           + "\n".join(self.lines[-50:]))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(10)
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        """Everything the process printed so far, for failure messages."""
        with self._cond:
            return f"--- {self.name} (exit code {self.popen.poll()}) ---\n" + "\n".join(self.lines)


class LocalFleet:
    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 5672, vhost: str | None = None,
                 heartbeat: float = 1.0, allow_unsigned: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.vhost = vhost or f"func-{uuid.uuid4().hex[:10]}"
        self.heartbeat = heartbeat
        self.allow_unsigned = allow_unsigned
        self._rabbitmqctl("add_vhost", self.vhost)
        self._rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        self.url = f"amqp://guest:guest@{host}:{port}/{self.vhost}"
        self.ca = CertificateAuthority(CAConfig.under(self.root / "ca", autosign=True))
        self.ca.create()
        self.acl_dir = self.root / "acl"
        self.acl_dir.mkdir(exist_ok=True)
        self.overlord_conf = self.root / "overlord.conf"
        self.overlord_conf.write_text(
            "[main]\n"
            f"broker_url = {self.url}\n"
            f"certroot = {self.ca.config.certroot}\n"
            f"cadir = {self.ca.config.cadir}\n"
            f"job_dir = {self.root / 'jobs'}\n"
            f"session_dir = {self.root / 'sessions'}\n"
            f"groups = {self.root / 'groups'}\n"
            f"host_down_list = {self.root / 'hosts_down.lst'}\n")
        self.broker_role: Process | None = None
        self.minions: dict[str, Process] = {}
        self.ports: dict[str, int] = {}

    @staticmethod
    def _rabbitmqctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)

    # -- processes --------------------------------------------------------------------------------
    def start_broker_role(self) -> Process:
        p = Process([sys.executable, "-m", "qmf.broker_role", "--url", self.url, "--state-dir",
                     str(self.root / "broker-role"), "--heartbeat", str(self.heartbeat)], "qmf-broker")
        p.wait_for("qmf-broker ready")
        self.broker_role = p
        return p

    def minion_config(self, name: str, **extra: Any) -> Path:
        """Writes the minion's minion.conf (and gets its certificate signed); returns its path."""
        home = self.root / "minions" / name
        cert_dir = home / "pki"
        signed, _files = request_certificate(self.ca, cert_dir, name)
        if not signed:
            raise RuntimeError(f"the CA did not sign {name}'s certificate")
        port = self.ports.get(name) or free_port()
        self.ports[name] = port
        settings = {"minion_name": name, "broker_url": self.url, "cert_dir": str(cert_dir), "listen_addr": "127.0.0.1",
                    "listen_port": str(port), "acl_dir": str(self.acl_dir), "state_dir": str(home / "state"),
                    "audit_log": str(home / "audit.log"), "module_conf_dir": str(home / "modules.d"),
                    "heartbeat": str(self.heartbeat),
                    "crl_location": str(self.ca.config.crl_file), "allow_unsigned": str(self.allow_unsigned).lower()}
        settings.update({k: str(v) for k, v in extra.items()})
        conf = home / "minion.conf"
        conf.write_text("[main]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        return conf

    def start_minion(self, name: str, **extra: Any) -> Process:
        conf = self.minion_config(name, **extra)
        p = Process([sys.executable, "-m", "func_amqp.minion.server", "-c", str(conf)], f"funcd {name}")
        self.minions[name] = p
        p.wait_for(f"funcd {name} ready")
        return p

    def start_minions(self, names: list[str], **extra: Any) -> None:
        if self.broker_role is None:
            self.start_broker_role()
        procs = {}
        for name in names:  # start them all, then wait: the minions come up in parallel
            conf = self.minion_config(name, **extra)
            procs[name] = Process([sys.executable, "-m", "func_amqp.minion.server", "-c", str(conf)], f"funcd {name}")
            self.minions[name] = procs[name]
        for name, p in procs.items():
            p.wait_for(f"funcd {name} ready")

    def audit_lines(self, name: str) -> list[str]:
        path = self.root / "minions" / name / "audit.log"
        return path.read_text().splitlines() if path.exists() else []

    # -- the overlord side ------------------------------------------------------------------------
    def config(self) -> overlord_config.OverlordConfig:
        return overlord_config.load(self.overlord_conf)

    def overlord(self, spec: str, **kw: Any) -> Overlord:
        return Overlord(spec, config=self.config(), **kw)

    def func(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Runs the `func` CLI as a process against this fleet."""
        return subprocess.run([sys.executable, "-m", "func_amqp.overlord.cli", "-c", str(self.overlord_conf), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})

    def close(self) -> None:
        close_all()  # this process's overlord connections first: the vhost is about to go
        for p in self.minions.values():
            p.kill(signal.SIGTERM)
        if self.broker_role is not None:
            self.broker_role.kill(signal.SIGTERM)
        with contextlib.suppress(Exception):
            self._rabbitmqctl("delete_vhost", self.vhost)

    def __enter__(self) -> LocalFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
