"""funcd's configuration: func's minion.conf keys, plus where the broker is.

One INI file, section `[main]`, with func's keys (minion.conf, func.md §5) and these additions:
`broker_url`, `amqp` / `xmlrpc` (each interface can be turned off), `state_dir`, `module_dirs`,
`facts_dirs`, `module_conf_dir`, `allow_unsigned`, `heartbeat`, `audit_log`, `cert_dir`, `broker_ca_file` (for amqps://).
Every path can be changed, so several minions run on one machine, each with its own file.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "/etc/func/minion.conf"


@dataclass
class MinionConfig:
    # func's minion.conf
    log_level: str = "INFO"
    acl_dir: str = "/etc/func/minion-acl.d"
    certmaster_overrides_acls: bool = True
    listen_addr: str = ""
    listen_port: int = 51234
    minion_name: str = ""
    method_log_dir: str = "/var/log/func/methods/"
    use_certmaster: bool = True
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    crl_location: str = ""
    module_list: list[str] = field(default_factory=list)
    # func_amqp's own
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    broker_ca_file: str = ""  # CA bundle for amqps:// (the broker's certificate); empty: system default
    amqp: bool = True
    xmlrpc: bool = True
    state_dir: str = "/var/lib/func"
    module_dirs: list[str] = field(default_factory=list)  # folders of extra modules, after the standard ones
    facts_dirs: list[str] = field(default_factory=list)  # folders of extra fact modules, after the standard ones
    module_conf_dir: str = field(default_factory=lambda: os.environ.get("FUNC_MODULE_CONF_DIR", "/etc/func/modules"))
    allow_unsigned: bool = False
    heartbeat: float = 5.0
    audit_log: str = "/var/log/func/audit.log"
    cert_dir: str = "/etc/pki/certmaster"

    @property
    def name(self) -> str:
        """The minion's name (its certificate CN): `minion_name`, else the host name, lowercased."""
        return (self.minion_name or socket.getfqdn() or socket.gethostname()).lower()

    def credentials(self) -> tuple[str, str, str]:
        """(key, cert, ca) files: the explicit ones, else certmaster's `<cert_dir>/<name>.pem|.cert`, `ca.cert`."""
        d = Path(self.cert_dir)
        return (self.key_file or str(d / f"{self.name}.pem"), self.cert_file or str(d / f"{self.name}.cert"),
                self.ca_file or str(d / "ca.cert"))


def load(path: str | os.PathLike[str] | None = None, **overrides: Any) -> MinionConfig:
    """Reads the file (a missing file gives the defaults), then applies `overrides`."""
    cfg = MinionConfig()
    read_into(cfg, read_ini(path or os.environ.get("FUNCD_CONFIG", DEFAULT_CONFIG)), overrides)
    return cfg


def read_ini(path: str | os.PathLike[str] | None) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    if path and Path(path).exists():
        cp.read(path)
    return cp


def read_into(cfg: Any, cp: configparser.ConfigParser, overrides: dict[str, Any]) -> None:
    """`[main]`'s keys into the dataclass `cfg`, each converted to its field's type, then `overrides`
    (those not None). Shared by funcd's and the overlord's configuration."""
    section = cp["main"] if cp.has_section("main") else {}
    for f in dataclasses.fields(cfg):
        default = getattr(cfg, f.name)
        if f.name in section and not isinstance(default, dict):
            setattr(cfg, f.name, _convert(section[f.name], default))
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)


def _convert(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        v = raw.strip().lower()
        if v not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"{raw!r} is not a boolean")
        return v in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, list):
        return [x.strip() for x in raw.replace(";", ",").replace("\n", ",").split(",") if x.strip()]
    return raw.strip()
