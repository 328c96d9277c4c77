"""Signed func requests over AMQP: what the overlord signs and the minion checks.

The caller puts its certificate (PEM) in header `func.cert` and, in `func.signature` (base64),
its signature over this text:

    "func-request-v2" LF func.request_id LF qmf.deadline LF func.async LF func.follow LF body[24:]

`body[24:]` is the QMF method request after its 8-byte header and 16-byte object id: package,
class, class hash, method and every argument byte. It is the same for every minion of a fan-out,
so one fan-out is one signature (one request id, one deadline), however many minions it reaches.
The minion checks the certificate against its CA and CRL, the signature, the deadline, and the
request id against replays, then uses the certificate's `CN-hash` as the caller for its ACLs.
What the signature does not bind is which minions were targeted: someone able to publish on the
broker could, until the deadline, re-send a fan-out's request to a minion outside it, where it
still runs only if that minion's ACLs allow the signer that method (see the README's security notes).
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509

from .certs.pem import cert_pem, load_certificate, load_private_key
from .certs.signing import sign_message
from .qmfmap import H_ASYNC, H_CERT, H_FOLLOW, H_REQUEST_ID, H_SIGNATURE

H_DEADLINE = "qmf.deadline"


SIGNED_FROM = 24  # the 8-byte AM2 header and the 16-byte object id are the minion's own


def signed_text(body: bytes, headers: dict[str, Any]) -> bytes:
    parts = ["func-request-v2", str(headers.get(H_REQUEST_ID, "")), str(headers.get(H_DEADLINE, "")),
             str(headers.get(H_ASYNC, "")), str(headers.get(H_FOLLOW, ""))]
    return "\n".join(parts).encode("utf-8") + b"\n" + body[SIGNED_FROM:]


class RequestSigner:
    """The overlord's signer: a `qmf.console.Signer` adding `func.cert` and `func.signature`."""

    def __init__(self, key_file: str, cert_file: str) -> None:
        with open(key_file, "rb") as f:
            self.key = load_private_key(f.read())
        with open(cert_file, "rb") as f:
            self.cert: x509.Certificate = load_certificate(f.read())
        self.cert_text = cert_pem(self.cert).decode("ascii")

        self._last: tuple[bytes, str] | None = None

    def __call__(self, routing_key: str, body: bytes, headers: dict[str, Any]) -> dict[str, Any]:
        text = signed_text(body, headers)
        last = self._last
        if last is None or last[0] != text:  # a fan-out signs once: every minion's text is the same
            last = self._last = (text, base64.b64encode(sign_message(self.key, text)).decode("ascii"))
        return {H_CERT: self.cert_text, H_SIGNATURE: last[1]}
