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

from .. import codes
from ..certs.errors import CredentialRejected
from ..certs.names import acl_key, common_name
from ..certs.pem import load_certificate, load_crl
from ..certs.signing import ReplayGuard, verify_message
from ..certs.verify import verify_certificate
from ..qmfmap import H_CERT, H_SIGNATURE
from ..request_auth import signed_text
from .dispatcher import ANONYMOUS, Caller

log = logging.getLogger("func.auth")


class Authenticator:
    def __init__(self, ca_file: str | None, crl_file: str | None = None, *, allow_unsigned: bool = False) -> None:
        self.ca: x509.Certificate | None = None
        if ca_file and Path(ca_file).exists():
            self.ca = load_certificate(Path(ca_file).read_bytes())
        self.crl_file = crl_file
        self.allow_unsigned = allow_unsigned
        self.replays = ReplayGuard()
        self._known: dict[str, x509.Certificate] = {}  # PEM text -> parsed certificate

    def ca_key(self) -> str | None:
        """The CA certificate's own ACL key (func's overlord calls with it; ACLs let it in)."""
        return acl_key(self.ca) if self.ca is not None else None

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
            cert_pem = cert_text.encode("ascii") if isinstance(cert_text, str) else bytes(cert_text)
            crl = load_crl(Path(self.crl_file).read_bytes()) if self.crl_file and Path(self.crl_file).exists() else None
            cert = verify_certificate(cert_pem, self.ca, crl)
            sig = base64.b64decode(sig_text, validate=True)
            verify_message(cert, signed_text(ctx.routing_key, ctx.body, headers), sig)
            deadline = ctx.deadline_ms / 1000 if ctx.deadline_ms else time.time() + 60
            request_id = str(headers.get("func.request_id") or ctx.message_id or "")
            if not request_id:
                raise codes.AccessToMethodDenied("a signed request needs a func.request_id")
            self.replays.check(request_id, deadline)
        except CredentialRejected as exc:
            raise codes.AccessToMethodDenied(f"credential refused: {exc}") from None
        except (ValueError, TypeError, binascii.Error) as exc:
            raise codes.AccessToMethodDenied(f"credential unreadable: {exc}") from None
        return Caller(common_name(cert), acl_key(cert), "-", "amqp")
