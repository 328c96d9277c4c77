"""Reading and writing keys, certificates and CRLs, so every module does it the same careful way.

Files are written whole or not at all (a temporary file in the same directory, then rename), with
their mode set before any byte is written: a private key is never readable by others, not even
for an instant, and a crash never leaves half a certificate behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import CertificateRejected, Rejection

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
MAX_PEM = 64 * 1024  # no certificate, CSR or key of ours comes near this; refuse before parsing


def generate_key(key_type: str = "ec") -> PrivateKey:
    """A new private key: "ec" is P-256 (fast to make, sign and verify: a func call signs every
    request), "rsa" is 2048 bits, as certmaster made them."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"key type {key_type!r} is not 'ec' or 'rsa'")


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Atomically replace `path` with `data`, created with `mode` (0600 for keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_file` (serial numbers, the revoked list)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)


def load_certificate(data: x509.Certificate | bytes | str) -> x509.Certificate:
    """A certificate from PEM or DER; CertificateRejected('not a certificate') for anything else."""
    if isinstance(data, x509.Certificate):
        return data
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise CertificateRejected(Rejection.NOT_A_CERTIFICATE, f"got {type(data).__name__}")
    raw = _as_bytes(data)
    if len(raw) > MAX_PEM:
        raise CertificateRejected(Rejection.NOT_A_CERTIFICATE, f"{len(raw)} bytes is too large")
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as e:
        raise CertificateRejected(Rejection.NOT_A_CERTIFICATE, str(e)) from None


def load_crl(data: x509.CertificateRevocationList | bytes | str) -> x509.CertificateRevocationList:
    """A CRL from PEM or DER; CertificateRejected('crl not issued by this CA') if unreadable."""
    if isinstance(data, x509.CertificateRevocationList):
        return data
    raw = _as_bytes(data)
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(raw)
        return x509.load_der_x509_crl(raw)
    except ValueError as e:
        raise CertificateRejected(Rejection.BAD_CRL, f"unreadable CRL: {e}") from None


def load_private_key(data: PrivateKey | bytes | str | Path) -> PrivateKey:
    """An unencrypted RSA or EC private key from PEM (a path is read first)."""
    if isinstance(data, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return data
    raw = Path(data).read_bytes() if isinstance(data, Path) else _as_bytes(data)
    key = serialization.load_pem_private_key(raw, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError(f"unsupported key type {type(key).__name__}")
    return key


def key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (certmaster's keys were unencrypted too; the file mode protects them)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def same_public_key(a: PublicKey, b: PublicKey) -> bool:
    """Whether two public keys are the same key (compared by their DER encoding)."""
    enc, fmt = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(enc, fmt) == b.public_bytes(enc, fmt)
