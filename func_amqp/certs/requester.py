"""The minion's side of certmaster (certmaster-request): its key, its CSR, storing what the CA returns.

The files are certmaster's, in `cert_dir` (/etc/pki/certmaster): `<hn>.pem` (the key, 0600),
`<hn>.csr`, `<hn>.cert` and `ca.cert`, so funcd's lookup rules (func.md 1.1) still find them.
There is no certmaster daemon here: `request_certificate` submits to a CA directory on this host;
a networked transport can carry `csr_pem()` and the `(signed, cert, ca)` answer instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from . import pem
from .ca import CertificateAuthority
from .errors import CAError
from .names import certmaster_subject, sanitize_cn


@dataclass(frozen=True)
class MinionFiles:
    """A host's certmaster files in `cert_dir`; `hostname` is already lowercased (it is the CN)."""

    cert_dir: Path
    hostname: str

    @property
    def key_file(self) -> Path:
        return self.cert_dir / f"{self.hostname}.pem"

    @property
    def csr_file(self) -> Path:
        return self.cert_dir / f"{self.hostname}.csr"

    @property
    def cert_file(self) -> Path:
        return self.cert_dir / f"{self.hostname}.cert"

    @property
    def ca_file(self) -> Path:
        return self.cert_dir / "ca.cert"

    def has_certificate(self) -> bool:
        """Both `<hn>.cert` and `ca.cert` are there: funcd would start without asking again."""
        return self.cert_file.exists() and self.ca_file.exists()

    def csr_pem(self) -> bytes:
        return self.csr_file.read_bytes()


def minion_files(cert_dir: str | Path, hostname: str) -> MinionFiles:
    return MinionFiles(Path(cert_dir), sanitize_cn(hostname.lower()))


def create_minion_keys(cert_dir: str | Path, hostname: str, key_type: str = "ec") -> MinionFiles:
    """Make `<hn>.pem` (EC P-256 by default, or RSA 2048; 0600) and `<hn>.csr` (CN = hostname
    lowercased) unless present.

    An existing key is kept (a new CSR is made from it if the CSR is missing), so running this
    again never changes a host's identity.
    """
    files = minion_files(cert_dir, hostname)
    if files.key_file.exists():
        key = pem.load_private_key(files.key_file)
    else:
        key = pem.generate_key(key_type)
        pem.write_file(files.key_file, pem.key_pem(key), mode=0o600)
    if not files.csr_file.exists():
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(certmaster_subject(files.hostname))
            .sign(key, hashes.SHA256())
        )
        pem.write_file(files.csr_file, csr.public_bytes(Encoding.PEM))
    return files


def store_certificate(files: MinionFiles, cert_pem: bytes | str, ca_pem: bytes | str) -> x509.Certificate:
    """Check the certificate is for our key and issued by the CA given, then write `<hn>.cert` and `ca.cert`."""
    cert = pem.load_certificate(cert_pem)
    ca = pem.load_certificate(ca_pem)
    key = pem.load_private_key(files.key_file)
    if not pem.same_public_key(cert.public_key(), key.public_key()):  # type: ignore[arg-type]
        raise CAError(f"the certificate returned for {files.hostname} is not for the key in {files.key_file}")
    if cert.issuer != ca.subject:
        raise CAError(f"the certificate returned for {files.hostname} was not issued by the CA returned with it")
    pem.write_file(files.ca_file, pem.cert_pem(ca))
    pem.write_file(files.cert_file, pem.cert_pem(cert))
    return cert


def request_certificate(ca: CertificateAuthority, cert_dir: str | Path, hostname: str) -> tuple[bool, MinionFiles]:
    """certmaster-request against a local CA: keys, CSR, submit; store the certificate if signed.

    Returns (signed, files). If the host already has its certificate, nothing is submitted.
    """
    files = create_minion_keys(cert_dir, hostname)
    if files.has_certificate():
        return True, files
    signed, cert_pem, ca_pem = ca.submit(files.csr_pem())
    if signed:
        store_certificate(files, cert_pem, ca_pem)
    return signed, files
