"""The overlord's credentials at work: it signs or MACs each func request and checks each reply.

One `Sessions` per overlord identity (key, certificate, CA) and process. It holds one ephemeral
X25519 key, offered to every minion as the session id and replaced after `lifetime`, and for
each minion a `Peer`: the session key once that minion accepted, which turns the next requests'
ECDSA signature into an HMAC (`func_amqp.request_auth` has the protocol).

A reply is taken only when it is authenticated: a value (status 0) must carry the minion's MAC
under the session, or, answering a handshake, the minion's signature with a certificate our CA
issued to a CN equal to the minion's name. A refusal or a failure the minion sent before it
trusted the request (no MAC, no signature) is taken as it is: it can only make that minion's
entry an error, never forge a value. Anything else is dropped, and the call waits for the genuine
reply until its deadline.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from codec import Message

from ..certs.errors import CredentialRejected
from ..certs.names import common_name
from ..certs.pem import cert_pem, load_certificate, load_private_key
from ..certs.signing import sign_message, verify_message
from ..qmfmap import H_CERT, H_REQUEST_ID, H_SIGNATURE, STATUS_FORBIDDEN
from ..request_auth import (
    H_MAC,
    H_SESSION,
    H_SESSION_ACCEPT,
    H_SESSION_EXPIRES,
    SESSION_UNKNOWN,
    mac,
    mac_matches,
    new_ephemeral,
    reply_text,
    request_text,
    session_key,
)
from ..trust import Trust

log = logging.getLogger("func.overlord.sessions")

LIFETIME = 3600.0  # seconds an ephemeral key is offered; minions hold a session no longer


class Sessions:
    def __init__(self, key_file: str, cert_file: str, ca_file: str, crl_file: str | None = None, *,
                 lifetime: float = LIFETIME) -> None:
        self.key = load_private_key(Path(key_file).read_bytes())
        self.cert: x509.Certificate = load_certificate(Path(cert_file).read_bytes())
        self.cert_text = cert_pem(self.cert).decode("ascii")
        self.trust = Trust(ca_file, crl_file)
        if self.trust.ca is None:
            raise ValueError(f"the overlord needs the CA certificate ({ca_file}) to check minions' replies")
        self.lifetime = lifetime
        self._ephemeral: dict[str, X25519PrivateKey] = {}  # session id -> its key: the current and the one before
        self._sid = ""
        self._expires_ms = 0
        self._peers: dict[str, Peer] = {}
        self._crl_checked = 0.0  # time.monotonic() of the last look at the CRL

    # -- kept between processes (`session_store`) ------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The current session and the minions' keys under it, as JSON-able data (secrets)."""
        own = self._ephemeral.get(self._sid)
        crl = self._crl_digest()
        if own is None or crl is None:
            return {}
        raw = own.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return {"cert": self.cert.fingerprint(hashes.SHA256()).hex(), "crl": crl,
                "sid": self._sid, "expires_ms": self._expires_ms,
                "ephemeral": base64.b64encode(raw).decode("ascii"),
                "peers": {p.name: base64.b64encode(p.key).decode("ascii") for p in self._peers.values()
                          if p.key is not None and p.sid == self._sid}}

    def restore(self, state: Mapping[str, Any]) -> bool:
        """Takes up a snapshot of this identity's that has over a minute left (the minions' keys only
        if the CRL is the one they were made under); False if it does not fit."""
        try:
            if state.get("cert") != self.cert.fingerprint(hashes.SHA256()).hex():
                return False
            expires_ms = int(state["expires_ms"])
            if expires_ms - 60_000 <= time.time() * 1000:
                return False
            own = X25519PrivateKey.from_private_bytes(base64.b64decode(state["ephemeral"], validate=True))
            sid = str(state["sid"])
            keys = {str(n): base64.b64decode(k, validate=True) for n, k in dict(state.get("peers", {})).items()}
        except (KeyError, TypeError, ValueError):
            return False
        self._ephemeral = {sid: own}
        self._sid, self._expires_ms = sid, expires_ms
        if state.get("crl") != self._crl_digest():
            return True  # the CRL changed since: the session goes on, every minion handshakes again
        for name, key in keys.items():
            if len(key) == 32:
                peer = self.peer(name)
                peer.key, peer.sid, peer.generation = key, sid, self.trust.generation
        return True

    def _crl_digest(self) -> str | None:
        try:
            return self.trust.crl_digest()
        except (CredentialRejected, ValueError):
            return None

    def peer(self, name: str) -> Peer:
        peer = self._peers.get(name)
        if peer is None:
            peer = self._peers[name] = Peer(self, name)
        return peer

    def _session(self) -> tuple[str, int]:
        """The current session id and its expiry (ms), a new one when it has under a minute left.
        The CRL is read again here at most once a second: a minion revoked since its handshake is
        made to handshake again, and its certificate is then refused."""
        now = time.monotonic()
        if now - self._crl_checked >= 1.0:
            self._crl_checked = now
            try:
                self.trust.crl()
            except (CredentialRejected, ValueError) as exc:  # unreadable: no session survives, no handshake passes
                log.warning("the CRL %s cannot be read: %s", self.trust.crl_file, exc)
                self.trust.generation += 1
        if self._expires_ms - 60_000 <= time.time() * 1000:
            own, sid = new_ephemeral()
            self._ephemeral = {k: v for k, v in self._ephemeral.items() if k == self._sid}
            self._ephemeral[sid] = own
            self._sid, self._expires_ms = sid, int((time.time() + self.lifetime) * 1000)
        return self._sid, self._expires_ms

    # -- requests ---------------------------------------------------------------------------------
    def sign(self, peer: Peer, routing_key: str, body: bytes, headers: dict[str, Any]) -> dict[str, Any]:
        sid, expires = self._session()
        if peer.key is not None and peer.sid == sid and peer.generation == self.trust.generation:
            added: dict[str, Any] = {H_SESSION: sid}
            text = request_text(body, {**headers, **added}, routing_key)
            added[H_MAC] = mac(peer.key, text)
            return added
        added = {H_SESSION: sid, H_SESSION_EXPIRES: expires}
        text = request_text(body, {**headers, **added}, routing_key)
        added[H_CERT] = self.cert_text
        added[H_SIGNATURE] = base64.b64encode(sign_message(self.key, text)).decode("ascii")
        return added

    # -- replies ----------------------------------------------------------------------------------
    def verify(self, peer: Peer, sent: Mapping[str, Any], body: bytes, got: Mapping[str, Any], reply: Message) -> bool:
        request_id = str(sent.get(H_REQUEST_ID, ""))
        if H_MAC in got:
            current = peer.sid == sent.get(H_SESSION) and peer.generation == self.trust.generation
            key = peer.key if current else None
            return key is not None and mac_matches(key, reply_text(request_id, "", body), got[H_MAC])
        if H_SIGNATURE in got:
            return self._signed_reply(peer, sent, body, got, request_id)
        # neither: taken only when it is not a value (a refusal before the minion trusted the request)
        return not (reply.opcode == "m" and getattr(reply, "status", 0) == 0)

    def _signed_reply(self, peer: Peer, sent: Mapping[str, Any], body: bytes, got: Mapping[str, Any],
                      request_id: str) -> bool:
        accept = str(got.get(H_SESSION_ACCEPT, ""))
        try:
            cert = self.trust.certificate(got.get(H_CERT) or "")
            if common_name(cert).lower() != peer.name.lower():
                log.warning("a reply for %s is signed by %r", peer.name, common_name(cert))
                return False
            verify_message(cert, reply_text(request_id, accept, body),
                           base64.b64decode(got[H_SIGNATURE], validate=True))
            sid = str(sent.get(H_SESSION, ""))
            own = self._ephemeral.get(sid)
            if accept and own is not None:
                peer.key, peer.sid = session_key(own, accept, sid, accept, self.cert, cert), sid
                peer.generation = self.trust.generation
        except (CredentialRejected, ValueError, TypeError) as exc:
            log.warning("a reply for %s does not verify: %s", peer.name, exc)
            return False
        return True


class Peer:
    """One minion as this overlord knows it: the `qmf.console` signer and verifier of its calls."""

    __slots__ = ("generation", "key", "name", "owner", "sid")

    def __init__(self, owner: Sessions, name: str) -> None:
        self.owner = owner
        self.name = name
        self.key: bytes | None = None
        self.sid = ""
        self.generation = 0  # the CRL generation its key was made under

    def sign(self, routing_key: str, body: bytes, headers: dict[str, Any]) -> dict[str, Any]:
        return self.owner.sign(self, routing_key, body, headers)

    def verify(self, sent: Mapping[str, Any], body: bytes, got: Mapping[str, Any], reply: Message) -> bool:
        return self.owner.verify(self, sent, body, got, reply)

    def session_lost(self, status: int, text: str) -> bool:
        """True (and the key forgotten) when the minion refused for want of our session: handshake again.
        Only a request under a session gets this refusal, so a call retries at most once."""
        if status == STATUS_FORBIDDEN and SESSION_UNKNOWN in text:
            self.key = None
            return True
        return False
