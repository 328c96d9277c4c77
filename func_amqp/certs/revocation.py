"""The CA's revoked list and the CRL built from it.

certmaster had no revocation: removing a host meant `certmaster-ca --clean` and hoping the old
certificate was gone everywhere. We keep a list of revoked serials (with the CN and time, so an
admin can read it) and publish it as a CRL signed by the CA key; minions check it in
verify_certificate and, when configured, in the TLS handshake.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from .errors import CAError
from .pem import PrivateKey, write_file


@dataclass(frozen=True)
class RevokedEntry:
    """One revoked certificate: its serial, the CN it was issued to, and when it was revoked."""

    serial: int
    cn: str
    revoked_at: dt.datetime


@dataclass
class RevokedList:
    """The revoked list as stored in `revoked.json`; `crl_number` counts the CRLs issued."""

    entries: list[RevokedEntry] = field(default_factory=list)
    crl_number: int = 0

    @classmethod
    def load(cls, path: Path) -> RevokedList:
        if not path.exists():
            return cls()
        try:
            doc = json.loads(path.read_text())
            entries = [
                RevokedEntry(int(e["serial"]), str(e["cn"]), dt.datetime.fromisoformat(e["revoked_at"]))
                for e in doc["revoked"]
            ]
            return cls(entries, int(doc["crl_number"]))
        except (ValueError, KeyError, TypeError) as e:
            raise CAError(f"unreadable revoked list {path}: {e}") from None

    def save(self, path: Path) -> None:
        doc = {
            "crl_number": self.crl_number,
            "revoked": [{"serial": e.serial, "cn": e.cn, "revoked_at": e.revoked_at.isoformat()} for e in self.entries],
        }
        write_file(path, (json.dumps(doc, indent=1) + "\n").encode())

    def add(self, serial: int, cn: str, when: dt.datetime) -> bool:
        """Record a revocation; False if that serial was already revoked."""
        if any(e.serial == serial for e in self.entries):
            return False
        self.entries.append(RevokedEntry(serial, cn, when))
        return True

    def has_cn(self, cn: str) -> bool:
        return any(e.cn == cn for e in self.entries)


def build_crl(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    revoked: RevokedList,
    now: dt.datetime,
    days: int,
    algorithm: hashes.HashAlgorithm,
) -> x509.CertificateRevocationList:
    """A CRL listing every revoked serial, valid `days` from `now`, numbered `revoked.crl_number`."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(revoked.crl_number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for entry in revoked.entries:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.revoked_at).build()
        )
    return builder.sign(ca_key, algorithm)


def write_crl(path: Path, crl: x509.CertificateRevocationList) -> None:
    write_file(path, crl.public_bytes(Encoding.PEM))
