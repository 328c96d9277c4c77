"""The overlord's configuration: func's overlord.conf keys, plus the broker and the transport.

`[main]` holds func's keys (func.md §5: socket_timeout, listen_port, backend, group_db, key_file,
cert_file, ca_file, host_down_list, allow_unknown_minions) and these: `broker_url`,
`broker_ca_file`, `crl_file` (checks minions' certificates; default the CA's crl.pem), `transport`
(amqp or xmlrpc), `certroot` (the CA's signed certificates: the minion inventory), `cadir` (the
CA, whose key signs requests by default, as in func), `groups` (func's groups file), `job_dir`
(async job records), `session_dir` (sessions kept between processes; empty: none). `[minions]` maps a minion name to the
`host:port` of its XML-RPC interface when it is not `<name>:<listen_port>`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..minion.config import read_ini, read_into

DEFAULT_CONFIG = "/etc/func/overlord.conf"


@dataclass
class OverlordConfig:
    socket_timeout: float = 0
    listen_port: int = 51234
    backend: str = "conf"
    group_db: str = ""
    key_file: str = ""
    cert_file: str = ""
    ca_file: str = ""
    crl_file: str = ""
    host_down_list: str = "/var/lib/func/hosts_down.lst"
    allow_unknown_minions: bool = False
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    broker_ca_file: str = ""
    transport: str = "amqp"
    certroot: str = "/var/lib/certmaster/certmaster/certs"
    cadir: str = "/etc/pki/certmaster/ca"
    groups: str = "/etc/func/groups"
    job_dir: str = "/var/lib/func/jobs"
    session_dir: str = "/var/lib/func/sessions"
    minions: dict[str, str] = field(default_factory=dict)

    def credentials(self) -> tuple[str, str, str]:
        """(key, cert, ca): explicit files, else the CA's own key and certificate (func's default)."""
        ca_dir = Path(self.cadir)
        return (self.key_file or str(ca_dir / "certmaster.key"), self.cert_file or str(ca_dir / "certmaster.crt"),
                self.ca_file or str(ca_dir / "certmaster.crt"))

    def crl(self) -> str | None:
        """The CRL minions' replies are checked against: `crl_file`, else the CA's own (cadir/crl.pem)."""
        return self.crl_file or str(Path(self.cadir) / "crl.pem")


def load(path: str | os.PathLike[str] | None = None, **overrides: Any) -> OverlordConfig:
    cfg = OverlordConfig()
    cp = read_ini(path or os.environ.get("FUNC_OVERLORD_CONFIG", DEFAULT_CONFIG))
    if cp.has_section("minions"):
        cfg.minions = {k.lower(): v.strip() for k, v in cp["minions"].items()}
    read_into(cfg, cp, overrides)
    return cfg
