"""A real `rpmyard serve` process for end-to-end tests, on SQLite or PostgreSQL.

The database is chosen by ``RPMYARD_TEST_DB`` (``sqlite``, the default, or ``postgresql``); each
server gets a fresh PostgreSQL database on 127.0.0.1:5432, dropped afterwards. If PostgreSQL is
unreachable the test fails: it never silently falls back to SQLite.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("RPMYARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_database(data_dir: Path) -> Iterator[str]:
    """The database URL for one server, per ``RPMYARD_TEST_DB``."""
    kind = os.environ.get("RPMYARD_TEST_DB", "sqlite")
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'rpmyard.sqlite'}"
        return
    if kind != "postgresql":
        raise RuntimeError(f"RPMYARD_TEST_DB must be sqlite or postgresql, not {kind!r}")
    import psycopg

    name = f"rpmyard_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Server:
    def __init__(self, data_dir: Path, port: int, database_url: str, extra_env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        # The tests' file servers listen on 127.0.0.1: allowed here, refused by default (test_bad_input).
        self.env = {**os.environ, "RPMYARD_DATA_DIR": str(data_dir), "RPMYARD_PORT": str(port),
                    "RPMYARD_DATABASE_URL": database_url, "RPMYARD_ALLOW_PRIVATE_URLS": "1", **extra_env}
        self.log_path = data_dir.parent / f"server-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    def rpmyard(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run an admin command against this server's settings."""
        return subprocess.run([sys.executable, "-m", "rpmyard.cli", *args], env=self.env, text=True,
                              capture_output=True, check=check, cwd=ROOT)

    def start(self) -> None:
        """Start (or restart, on the same data and database) and wait until it serves and builds."""
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "rpmyard.cli", "serve"], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rpmyard serve exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/api_3/", timeout=1).status_code == 200 and self.workers_ready():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"rpmyard serve did not come up:\n{self.log_path.read_text()[-3000:]}")

    def workers_ready(self) -> bool:
        with open(self.log_path, "rb") as fh:
            fh.seek(self._log_start)
            return b"local builder slots" in fh.read()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # A killed server cannot stop the gpg-agent of its signing keys: do it for it.
        gnupg = self.data_dir / "keys" / "gnupg"
        if gnupg.is_dir():
            subprocess.run(["gpgconf", "--homedir", str(gnupg), "--kill", "gpg-agent"], capture_output=True,
                           timeout=30)

    def add_user(self, name: str, *, admin: bool = False) -> str:
        """Create a user; returns the copr-cli config text the server printed."""
        args = ["user", "add", name] + (["--admin"] if admin else [])
        return self.rpmyard(*args).stdout

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_server(base: Path, **extra_env: str) -> Iterator[Server]:
    data_dir = base / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    with scratch_database(data_dir) as db_url:
        server = Server(data_dir, free_port(), db_url, extra_env)
        server.start()
        try:
            yield server
        finally:
            server.stop()
