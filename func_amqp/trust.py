"""The CA a peer's certificate must chain to, its CRL, and the peer certificates already checked.

A minion checks the overlord's certificate on each signed request; an overlord checks each
minion's on its handshake reply. Both keep a verified certificate for `CACHE_SECONDS` and read
the CRL again when its file changes (`filestamp`); a CRL whose content changed bumps
`generation`, so whoever built state on a certificate (a minion's sessions) can drop it: a
revocation takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from cryptography import x509

from . import filestamp
from .certs.pem import load_certificate, load_crl
from .certs.verify import verify_certificate

CACHE_SECONDS = 60.0  # a verified certificate is checked again after this long
MAX_CACHED = 10_000


class Trust:
    def __init__(self, ca_file: str | None, crl_file: str | None = None) -> None:
        self.ca: x509.Certificate | None = None
        if ca_file and Path(ca_file).exists():
            self.ca = load_certificate(Path(ca_file).read_bytes())
        self.crl_file = crl_file
        self.generation = 0  # bumped whenever the CRL's content changes
        self._crl: tuple[filestamp.Stamp, bytes, x509.CertificateRevocationList] | None = None
        self._known: dict[str, tuple[float, x509.Certificate]] = {}  # PEM text -> (when verified, it)

    def crl(self) -> x509.CertificateRevocationList | None:
        """The CRL as its file holds it now (None without one)."""
        path = self.crl_file
        if not path:
            return None
        current = filestamp.stamp(path)
        if current is None:
            if self._crl is not None:
                self._crl = None
                self._changed()
            return None
        if self._crl is None or not filestamp.unchanged(self._crl[0], current):
            data = Path(path).read_bytes()
            if self._crl is None or data != self._crl[1]:
                self._crl = (current, data, load_crl(data))
                self._changed()
            else:
                self._crl = (current, data, self._crl[2])
        return self._crl[2]

    def crl_digest(self) -> str:
        """SHA-256 of the CRL as now read ("" without one): what state kept elsewhere was made under."""
        self.crl()
        return hashlib.sha256(self._crl[1]).hexdigest() if self._crl is not None else ""

    def _changed(self) -> None:
        self._known.clear()
        self.generation += 1

    def certificate(self, pem: object) -> x509.Certificate:
        """The peer's certificate if our CA issued it, it is in its window and not revoked (else
        `CertificateRejected`, or ValueError without a CA); checked again after `CACHE_SECONDS`."""
        if self.ca is None:
            raise ValueError("no CA certificate to check it with")
        if isinstance(pem, bytes | bytearray):
            pem = bytes(pem).decode("ascii", "replace")
        if not isinstance(pem, str):  # a header of another AMQP type (bytes(n) of an int would allocate n bytes)
            raise ValueError(f"a certificate header must be PEM text, not {type(pem).__name__}")
        crl = self.crl()
        text = pem
        now = time.monotonic()
        known = self._known.get(text)
        if known is not None and now - known[0] < CACHE_SECONDS:
            return known[1]
        cert = verify_certificate(text.encode("ascii", "replace"), self.ca, crl)
        if len(self._known) >= MAX_CACHED:
            self._known.clear()
        self._known[text] = (now, cert)
        return cert
