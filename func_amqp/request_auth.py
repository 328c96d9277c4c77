"""Signed func requests over AMQP: what the overlord signs and the minion checks.

The caller puts its certificate (PEM) in header `func.cert` and, in `func.signature` (base64),
its signature over this text, so that the routing key, the request id, the deadline, the flags and
every byte of the QMF body are covered:

    "func-request-v1" LF routing key LF func.request_id LF qmf.deadline LF func.async LF func.follow LF body

The minion checks the certificate against its CA and CRL, the signature, the deadline, and the
request id against replays, then uses the certificate's `CN-hash` as the caller for its ACLs.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509

from .certs.pem import cert_pem, load_certificate, load_private_key
from .certs.signing import sign_message
from .qmfmap import H_ASYNC, H_CERT, H_FOLLOW, H_REQUEST_ID, H_SIGNATURE

H_DEADLINE = "qmf.deadline"


def signed_text(routing_key: str, body: bytes, headers: dict[str, Any]) -> bytes:
    parts = ["func-request-v1", routing_key, str(headers.get(H_REQUEST_ID, "")), str(headers.get(H_DEADLINE, "")),
             str(headers.get(H_ASYNC, "")), str(headers.get(H_FOLLOW, ""))]
    return "\n".join(parts).encode("utf-8") + b"\n" + body


class RequestSigner:
    """The overlord's signer: a `qmf.console.Signer` adding `func.cert` and `func.signature`."""

    def __init__(self, key_file: str, cert_file: str) -> None:
        with open(key_file, "rb") as f:
            self.key = load_private_key(f.read())
        with open(cert_file, "rb") as f:
            self.cert: x509.Certificate = load_certificate(f.read())
        self.cert_text = cert_pem(self.cert).decode("ascii")

    def __call__(self, routing_key: str, body: bytes, headers: dict[str, Any]) -> dict[str, Any]:
        sig = sign_message(self.key, signed_text(routing_key, body, headers))
        return {H_CERT: self.cert_text, H_SIGNATURE: base64.b64encode(sig).decode("ascii")}
