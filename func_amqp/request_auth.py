"""Who sent a func request and who answered it, over AMQP: the texts each side signs or MACs.

A broker delivers whatever anyone with an account publishes, so both directions are authenticated
above it (DESIGN.md, "Bad input and security"). Signing every request and every reply with
certificate keys would cost ~100 µs of ECDSA per message on each side, so an overlord process and
a minion sign once, in a handshake riding on the first request, and MAC the rest:

- **Handshake** (the overlord's first request to a minion): headers `func.cert` (the overlord's
  certificate, PEM), `func.session` (its ephemeral X25519 public key, base64: the session id),
  `func.session_expires` (ms since the epoch) and `func.signature` over `request_text`. The minion
  checks them as any signed request, then answers with `func.cert` (its own certificate),
  `func.session_accept` (its ephemeral X25519 public key) and `func.signature` over `reply_text`
  with its certificate's key. Both sides then hold `session_key(...)`.
- **Session requests**: `func.session` and `func.mac` = HMAC-SHA256(K, request_text), no
  certificate; the reply carries `func.mac` = HMAC-SHA256(K, reply_text). A minion that no longer
  holds the session (restarted, its CRL changed, expired) refuses with status 6 and a text
  starting "unknown session", and the overlord runs the handshake again, once.
- **Plain signed requests** (third-party clients, no `func.session`): `func.cert` and
  `func.signature` over the v2 text; the minion signs its reply as in a handshake, without
  `func.session_accept`.

    request_text v3 = "func-request-v3" LF func.request_id LF qmf.deadline LF func.async LF
                      func.follow LF routing key LF func.session LF func.session_expires LF body[24:]
    request_text v2 = "func-request-v2" LF func.request_id LF qmf.deadline LF func.async LF
                      func.follow LF body[24:]
    (either with a `func.facts` header: "facts=" func.facts LF inserted before body[24:])
    reply_text      = "func-reply-v1" LF func.request_id LF func.session_accept LF reply body

`body[24:]` is the QMF method request after its 8-byte header and 16-byte object id (package,
class, class hash, method, arguments). v3 binds the routing key the request was published with:
a request is good for the one minion it was sent to. v2 does not: one fan-out carries one
signature, which someone able to publish could re-send to another minion until the deadline.
The reply text binds the request id, so a reply cannot be replayed as another request's.
Nothing here does I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from qmf.protocol import H_DEADLINE

from .qmfmap import H_ASYNC, H_FACTS, H_FOLLOW, H_REQUEST_ID

H_SESSION = "func.session"
H_SESSION_EXPIRES = "func.session_expires"
H_SESSION_ACCEPT = "func.session_accept"
H_MAC = "func.mac"

SESSION_UNKNOWN = "unknown session"  # how a minion's refusal starts when the overlord should handshake again
SIGNED_FROM = 24  # the 8-byte AM2 header and the 16-byte object id are the minion's own
_KDF_INFO = b"func-session-v1"


def request_text(body: bytes, headers: Mapping[str, Any], routing_key: str) -> bytes:
    """What a request's signature or MAC covers (v3 when it names a session, else v2)."""
    if H_SESSION in headers:
        parts = ["func-request-v3", str(headers.get(H_REQUEST_ID, "")), str(headers.get(H_DEADLINE, "")),
                 str(headers.get(H_ASYNC, "")), str(headers.get(H_FOLLOW, "")), routing_key,
                 str(headers.get(H_SESSION, "")), str(headers.get(H_SESSION_EXPIRES, ""))]
    else:
        parts = ["func-request-v2", str(headers.get(H_REQUEST_ID, "")), str(headers.get(H_DEADLINE, "")),
                 str(headers.get(H_ASYNC, "")), str(headers.get(H_FOLLOW, ""))]
    if H_FACTS in headers:  # only when there: the texts of requests without a facts query stay as they were
        parts.append("facts=" + str(headers[H_FACTS]))
    return "\n".join(parts).encode("utf-8") + b"\n" + body[SIGNED_FROM:]


def reply_text(request_id: str, accept: str, body: bytes) -> bytes:
    """What a reply's signature or MAC covers: the request it answers, and every byte of it."""
    return f"func-reply-v1\n{request_id}\n{accept}\n".encode() + body


def new_ephemeral() -> tuple[X25519PrivateKey, str]:
    """A fresh X25519 key and its public half in base64 (a session id, or a minion's accept)."""
    key = X25519PrivateKey.generate()
    return key, base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def public_key(text: Any) -> X25519PublicKey:
    """A peer's X25519 key from its base64 header; ValueError when it is not one."""
    raw = base64.b64decode(str(text), validate=True)
    if len(raw) != 32:
        raise ValueError("an X25519 public key is 32 bytes")
    return X25519PublicKey.from_public_bytes(raw)


def session_key(own: X25519PrivateKey, peer: str, overlord_pub: str, minion_pub: str,
                overlord_cert: x509.Certificate, minion_cert: x509.Certificate) -> bytes:
    """K = HKDF-SHA256(X25519 shared secret, info = "func-session-v1" | both public keys (base64) |
    SHA-256 of both certificates' DER), 32 bytes: the same on both sides, bound to both identities."""
    shared = own.exchange(public_key(peer))
    info = b"|".join([_KDF_INFO, overlord_pub.encode(), minion_pub.encode(),
                      overlord_cert.fingerprint(hashes.SHA256()), minion_cert.fingerprint(hashes.SHA256())])
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def mac(key: bytes, text: bytes) -> str:
    return base64.b64encode(hmac.digest(key, text, hashlib.sha256)).decode("ascii")


def mac_matches(key: bytes, text: bytes, given: Any) -> bool:
    return isinstance(given, str | bytes) and hmac.compare_digest(mac(key, text).encode(), _ascii(given))


def _ascii(value: str | bytes) -> bytes:
    return value.encode("ascii", "replace") if isinstance(value, str) else bytes(value)
