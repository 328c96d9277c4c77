"""Who is calling over AMQP: the signed request's certificate, checked before anything runs.

Refusals (each an `AccessToMethodDenied` with the reason, which the AMQP interface answers with
status 6 Forbidden): no signature when unsigned requests are not accepted; a certificate not
issued by this minion's CA, expired, not yet valid or revoked; a signature that does not verify;
a deadline already passed; a request id seen before (a replay).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from pathlib import Path
from typing import Any

from cryptography import x509

from .. import codes, filestamp
from ..certs.errors import CredentialRejected
from ..certs.names import acl_key, common_name
from ..certs.pem import load_certificate, load_crl
from ..certs.signing import ReplayGuard, verify_message
from ..certs.verify import verify_certificate
from ..qmfmap import H_CERT, H_SIGNATURE
from ..request_auth import signed_text
from .dispatcher import ANONYMOUS, Caller

log = logging.getLogger("func.auth")

CACHE_SECONDS = 60.0  # a verified caller certificate is checked again after this long


class Authenticator:
    def __init__(self, ca_file: str | None, crl_file: str | None = None, *, allow_unsigned: bool = False) -> None:
        self.ca: x509.Certificate | None = None
        if ca_file and Path(ca_file).exists():
            self.ca = load_certificate(Path(ca_file).read_bytes())
        self.crl_file = crl_file
        self.allow_unsigned = allow_unsigned
        self.replays = ReplayGuard()
        self._known: dict[str, tuple[float, x509.Certificate, Caller]] = {}  # PEM text -> (when verified, ...)
        self._crl_cache: tuple[filestamp.Stamp, x509.CertificateRevocationList] | None = None

    def ca_key(self) -> str | None:
        """The CA certificate's own ACL key (func's overlord calls with it; ACLs let it in)."""
        return acl_key(self.ca) if self.ca is not None else None

    def _crl(self) -> x509.CertificateRevocationList | None:
        """The CRL, re-read when its file changes (a revocation takes effect on the next call)."""
        if not self.crl_file:
            return None
        path = Path(self.crl_file)
        current = filestamp.stamp(path)
        if current is None:
            return None
        if self._crl_cache is None or not filestamp.unchanged(self._crl_cache[0], current):
            self._crl_cache = (current, load_crl(path.read_bytes()))
            self._known.clear()
        return self._crl_cache[1]

    def _certificate(self, cert_text: Any) -> tuple[x509.Certificate, Caller]:
        """The caller's certificate, verified (chain, window, CRL); a verified one is remembered
        for `CACHE_SECONDS` (and forgotten when the CRL changes)."""
        crl = self._crl()
        now = time.time()
        key = cert_text if isinstance(cert_text, str) else bytes(cert_text).decode("ascii", "replace")
        known = self._known.get(key)
        if known is not None and now - known[0] < CACHE_SECONDS:
            return known[1], known[2]
        cert = verify_certificate(key.encode("ascii", "replace"), self.ca, crl)  # type: ignore[arg-type]
        if len(self._known) > 1000:
            self._known.clear()
        caller = Caller(common_name(cert), acl_key(cert), "-", "amqp")  # the subject hash, once per certificate
        self._known[key] = (now, cert, caller)
        return cert, caller

    def identify(self, ctx: Any) -> Caller:
        headers = ctx.headers
        cert_text = headers.get(H_CERT)
        sig_text = headers.get(H_SIGNATURE)
        if not cert_text or not sig_text:
            if self.allow_unsigned:
                return Caller(ANONYMOUS.name, ANONYMOUS.key, "-", "amqp")
            raise codes.AccessToMethodDenied("unsigned request refused (this minion accepts signed requests only)")
        if self.ca is None:
            raise codes.AccessToMethodDenied("this minion has no CA certificate to check signatures with")
        try:
            cert, caller = self._certificate(cert_text)
            sig = base64.b64decode(sig_text, validate=True)
            verify_message(cert, signed_text(ctx.body, headers), sig)
            deadline = ctx.deadline_ms / 1000 if ctx.deadline_ms else time.time() + 60
            request_id = str(headers.get("func.request_id") or "")
            if not request_id:
                raise codes.AccessToMethodDenied("a signed request needs a func.request_id")
            self.replays.check(request_id, deadline)
        except CredentialRejected as exc:
            raise codes.AccessToMethodDenied(f"credential refused: {exc}") from None
        except (ValueError, TypeError, binascii.Error) as exc:
            raise codes.AccessToMethodDenied(f"credential unreadable: {exc}") from None
        return caller
