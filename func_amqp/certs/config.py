"""The CA's configuration: certmaster.conf's [main], with certmaster's paths as the defaults.

One frozen value says where every file lives, so the CA, the requester and the CLI agree on the
layout, and tests point a whole CA at a temporary directory with `CAConfig.under(tmp)`.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives import hashes

from .errors import CAError

KEY_TYPES = ("ec", "rsa")

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class CAConfig:
    """Where the CA keeps its files, as certmaster.conf's [main] (defaults are certmaster's)."""

    cadir: Path = Path("/etc/pki/certmaster/ca")
    certroot: Path = Path("/var/lib/certmaster/certmaster/certs")
    csrroot: Path = Path("/var/lib/certmaster/certmaster/csrs")
    cert_dir: Path = Path("/etc/pki/certmaster")  # this host's own key and cert (the requester's side)
    autosign: bool = False
    cert_extension: str = "cert"
    hash_function: str = "sha256"
    key_type: str = "ec"  # the CA key: "ec" (P-256: a request signed in ~0.1 ms) or "rsa" (2048, as certmaster)
    ca_days: int = 3650
    cert_days: int = 3650
    crl_days: int = 365

    def __post_init__(self) -> None:
        for name in ("cadir", "certroot", "csrroot", "cert_dir"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        if self.hash_function not in HASHES:
            raise CAError(f"hash_function must be one of {sorted(HASHES)}, not {self.hash_function!r}")
        if self.key_type not in KEY_TYPES:
            raise CAError(f"key_type must be one of {sorted(KEY_TYPES)}, not {self.key_type!r}")
        if min(self.ca_days, self.cert_days, self.crl_days) < 1:
            raise CAError("ca_days, cert_days and crl_days must be at least 1")

    @property
    def key_file(self) -> Path:
        """The CA private key (0600): cadir/certmaster.key."""
        return self.cadir / "certmaster.key"

    @property
    def cert_file(self) -> Path:
        """The CA certificate: cadir/certmaster.crt."""
        return self.cadir / "certmaster.crt"

    @property
    def serial_file(self) -> Path:
        """The last serial number issued: cadir/serial.txt."""
        return self.cadir / "serial.txt"

    @property
    def crl_file(self) -> Path:
        """The CRL, signed by the CA key: cadir/crl.pem."""
        return self.cadir / "crl.pem"

    @property
    def revoked_file(self) -> Path:
        """The revoked list the CRL is built from: cadir/revoked.json."""
        return self.cadir / "revoked.json"

    @property
    def lock_file(self) -> Path:
        """Held while the CA's files change: cadir/.lock."""
        return self.cadir / ".lock"

    @classmethod
    def under(cls, root: str | Path, **overrides: object) -> CAConfig:
        """A self-contained CA: cadir=root, certroot=root/certs, csrroot=root/csrs."""
        root = Path(root)
        return cls(**{"cadir": root, "certroot": root / "certs", "csrroot": root / "csrs", **overrides})  # type: ignore[arg-type]

    @classmethod
    def from_file(cls, path: str | Path, **overrides: object) -> CAConfig:
        """Read certmaster.conf's [main]; keys it does not know (log_level, listen_port...) are ignored."""
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(path) as f:
                parser.read_file(f)
        except (OSError, configparser.Error) as e:
            raise CAError(f"cannot read {path}: {e}") from None
        main = parser["main"] if parser.has_section("main") else {}
        values: dict[str, object] = {}
        try:
            for key in ("cadir", "certroot", "csrroot", "cert_dir"):
                if key in main:
                    values[key] = Path(main[key])
            for key in ("cert_extension", "hash_function", "key_type"):
                if key in main:
                    values[key] = main[key].strip()
            for key in ("ca_days", "cert_days", "crl_days"):
                if key in main:
                    values[key] = int(main[key])
            if "autosign" in main:
                values["autosign"] = parser.getboolean("main", "autosign")
        except ValueError as e:
            raise CAError(f"{path}: {e}") from None
        return replace(cls(), **{**values, **overrides})  # type: ignore[arg-type]
