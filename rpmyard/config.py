"""Settings: defaults, then a TOML file, then ``RPMYARD_*`` environment variables, then CLI flags.

One flat namespace keeps the README's configuration reference a single table.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share")) / "rpmyard"


@dataclass(frozen=True)
class Settings:
    """Every knob of the service; the README documents each field."""

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # empty: SQLite file inside data_dir
    broker_url: str = "memory://"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # empty: http://host:port
    dispatcher: bool = True  # run the dispatcher inside `rpmyard serve` (else run `rpmyard dispatcher`)
    workers: int = -1  # local builder slots `rpmyard serve` starts; -1: 2 on the in-process bus, 0 on AMQP
    max_upload_mb: int = 1024
    allow_private_urls: bool = False  # URL builds may fetch from loopback/private/link-local addresses
    default_timeout: int = 18000
    lease_seconds: float = 20.0
    heartbeat_seconds: float = 2.0
    max_attempts: int = 3
    max_running_per_owner: int = 0  # 0: no cap
    max_running_per_project: int = 0  # 0: no cap
    token_days: int = 180
    worker_token: str = ""  # when set, workers must present it (rpmyard worker --token) on every upload
    build_memory_mb: int = 0  # 0: no limit
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'rpmyard.sqlite'}"

    @property
    def local_slots(self) -> int:
        if self.workers >= 0:
            return self.workers
        return 2 if self.broker_url in ("", "memory://") else 0

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def spool_dir(self) -> Path:
        """Private area for uploads in flight and task files; never served."""
        return self.data_dir / "spool"

    def with_overrides(self, **values: Any) -> Settings:
        return replace(self, **_coerce({k: v for k, v in values.items() if v is not None}))


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in types:
            raise ValueError(f"unknown setting {key!r}")
        kind = types[key]
        if kind == "Path":
            value = Path(value).expanduser().resolve()
        elif kind == "int":
            value = int(value)
        elif kind == "float":
            value = float(value)
        elif kind == "bool" and isinstance(value, str):
            if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(f"setting {key}: {value!r} is not a boolean")
            value = value.lower() in ("1", "true", "yes", "on")
        out[key] = value
    return out


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the effective settings; ``config_file`` defaults to ``$RPMYARD_CONFIG``."""
    values: dict[str, Any] = {}
    path = config_file or (Path(os.environ["RPMYARD_CONFIG"]) if os.environ.get("RPMYARD_CONFIG") else None)
    if path is not None:
        with open(path, "rb") as fh:
            values.update(tomllib.load(fh))
    for f in fields(Settings):
        env = os.environ.get(f"RPMYARD_{f.name.upper()}")
        if env is not None and f.name != "extra":
            values[f.name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings().with_overrides(**values)
