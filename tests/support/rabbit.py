"""A private RabbitMQ virtual host per test, on the broker at 127.0.0.1:5672 (fails if it is down)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbit_vhost() -> Iterator[str]:
    """Yields an amqp:// URL of a fresh vhost, deleted afterwards."""
    vhost = f"rpmyard-test-{secrets.token_hex(4)}"
    _ctl("add_vhost", vhost)
    _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        _ctl("delete_vhost", vhost)
