"""Who is calling over AMQP, checked before anything runs, and the minion's seal on its reply.

`identify(ctx)` takes a request in one of the three forms of `func_amqp.request_auth`: a session
request (its MAC under a session this minion holds), a handshake (a signed request offering a
session, which this minion accepts) or a plain signed request. It returns the caller and sets
`ctx.sign_reply`, so the reply (its value or its error) goes out MACed or signed.

Refusals (each an `AccessToMethodDenied` with the reason, which the AMQP interface answers with
status 6 Forbidden): no signature when unsigned requests are not accepted; a certificate not
issued by this minion's CA, expired, not yet valid or revoked; a signature or MAC that does not
verify; a session this minion does not hold ("unknown session": the overlord handshakes again);
a deadline already passed; a request id seen before (a replay).
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from .. import codes
from ..certs.errors import CredentialRejected
from ..certs.names import acl_key, common_name
from ..certs.pem import cert_pem, load_certificate, load_private_key
from ..certs.signing import ReplayGuard, sign_message, verify_message
from ..qmfmap import H_CERT, H_REQUEST_ID, H_SIGNATURE
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
from .dispatcher import ANONYMOUS, Caller

log = logging.getLogger("func.auth")

MAX_SESSION_SECONDS = 86_400.0  # a session offered for longer is held this long at most
MAX_SESSIONS = 10_000  # beyond this the table is emptied (expired ones first): overlords handshake again


@dataclass(frozen=True, slots=True)
class Session:
    key: bytes
    caller: Caller
    cert: x509.Certificate
    accept: str  # this minion's ephemeral public key, sent again to a concurrent handshake
    expires: float  # POSIX seconds
    generation: int  # the CRL generation it was made under


class Authenticator:
    def __init__(self, ca_file: str | None, crl_file: str | None = None, *, allow_unsigned: bool = False,
                 key_file: str | None = None, cert_file: str | None = None) -> None:
        self.trust = Trust(ca_file, crl_file)
        self.allow_unsigned = allow_unsigned
        self.replays = ReplayGuard()
        self.key = self.cert = None
        self.cert_text = ""
        if key_file and cert_file and Path(key_file).exists() and Path(cert_file).exists():
            self.key = load_private_key(Path(key_file).read_bytes())
            self.cert = load_certificate(Path(cert_file).read_bytes())
            self.cert_text = cert_pem(self.cert).decode("ascii")
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()  # calls are identified on the loop and in worker threads
        self._callers: dict[x509.Certificate, Caller] = {}

    @property
    def ca(self) -> x509.Certificate | None:
        return self.trust.ca

    def ca_key(self) -> str | None:
        """The CA certificate's own ACL key (func's overlord calls with it; ACLs let it in)."""
        return acl_key(self.ca) if self.ca is not None else None

    def identify(self, ctx: Any) -> Caller:
        headers = ctx.headers
        try:
            if H_MAC in headers:
                return self._session_request(ctx)
            if not headers.get(H_CERT) or not headers.get(H_SIGNATURE):
                if self.allow_unsigned:
                    return Caller(ANONYMOUS.name, ANONYMOUS.key, "-", "amqp")
                raise codes.AccessToMethodDenied("unsigned request refused (this minion accepts signed requests "
                                                 "only)")
            if self.ca is None:
                raise codes.AccessToMethodDenied("this minion has no CA certificate to check signatures with")
            return self._signed_request(ctx)
        except CredentialRejected as exc:
            raise codes.AccessToMethodDenied(f"credential refused: {exc}") from None
        except (ValueError, TypeError, binascii.Error) as exc:
            raise codes.AccessToMethodDenied(f"credential unreadable: {exc}") from None

    # -- the three forms ----------------------------------------------------------------------------
    def _session_request(self, ctx: Any) -> Caller:
        headers = ctx.headers
        self.trust.crl()  # a CRL that changed ends every session made before it
        session = self._sessions.get(str(headers.get(H_SESSION, "")))
        if session is None or session.expires <= time.time() or session.generation != self.trust.generation:
            raise codes.AccessToMethodDenied(f"{SESSION_UNKNOWN}: this minion holds no such session; sign the "
                                             "request to start one")
        if not mac_matches(session.key, request_text(ctx.body, headers, ctx.routing_key), headers[H_MAC]):
            raise codes.AccessToMethodDenied(f"{SESSION_UNKNOWN}: the request's MAC does not verify under it")
        request_id = self._fresh(ctx, min(session.expires, time.time() + 60))
        key = session.key
        ctx.sign_reply = lambda body: {H_MAC: mac(key, reply_text(request_id, "", body))}
        return session.caller

    def _signed_request(self, ctx: Any) -> Caller:
        headers = ctx.headers
        cert = self.trust.certificate(headers[H_CERT])
        sig = base64.b64decode(headers[H_SIGNATURE], validate=True)
        verify_message(cert, request_text(ctx.body, headers, ctx.routing_key), sig)
        request_id = self._fresh(ctx, time.time() + 60)
        caller = self._caller(cert)
        accept = ""
        if H_SESSION in headers and self.key is not None:
            accept = self._accept(str(headers[H_SESSION]), headers.get(H_SESSION_EXPIRES), cert, caller).accept
        if self.key is not None:
            own_key, own_cert = self.key, self.cert_text

            def sign_reply(body: bytes) -> dict[str, Any]:
                sig = sign_message(own_key, reply_text(request_id, accept, body))
                out = {H_CERT: own_cert, H_SIGNATURE: base64.b64encode(sig).decode("ascii")}
                if accept:
                    out[H_SESSION_ACCEPT] = accept
                return out

            ctx.sign_reply = sign_reply
        return caller

    # -- pieces ---------------------------------------------------------------------------------------
    def _fresh(self, ctx: Any, default_deadline: float) -> str:
        """The request id, checked against replays until the request's deadline."""
        request_id = str(ctx.headers.get(H_REQUEST_ID) or "")
        if not request_id:
            raise codes.AccessToMethodDenied("a signed request needs a func.request_id")
        self.replays.check(request_id, ctx.deadline_ms / 1000 if ctx.deadline_ms else default_deadline)
        return request_id

    def _caller(self, cert: x509.Certificate) -> Caller:
        caller = self._callers.get(cert)
        if caller is None:  # the subject hash, once per certificate
            if len(self._callers) >= 1000:
                self._callers.clear()
            caller = self._callers[cert] = Caller(common_name(cert), acl_key(cert), "-", "amqp")
        return caller

    def _accept(self, sid: str, expires_ms: Any, cert: x509.Certificate, caller: Caller) -> Session:
        """The session the overlord offered under `sid`: the one already held (concurrent handshakes
        must all end with the same key), else a new one with a fresh ephemeral key of ours."""
        now = time.time()
        try:
            offered = float(expires_ms) / 1000
        except (TypeError, ValueError):
            raise codes.AccessToMethodDenied("func.session_expires is not a time in ms") from None
        expires = min(offered, now + MAX_SESSION_SECONDS, cert.not_valid_after_utc.timestamp())
        if expires <= now:
            raise codes.AccessToMethodDenied("the session offered has already expired")
        with self._lock:
            held = self._sessions.get(sid)
            if held is not None and held.generation == self.trust.generation and held.expires > now:
                if held.cert != cert:
                    raise codes.AccessToMethodDenied("this session id belongs to another certificate")
                return held
            assert self.key is not None and self.cert is not None
            own, accept = new_ephemeral()
            key = session_key(own, sid, sid, accept, cert, self.cert)
            if len(self._sessions) >= MAX_SESSIONS:
                self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
                if len(self._sessions) >= MAX_SESSIONS:
                    log.warning("%d sessions held: dropping them all (overlords will handshake again)",
                                len(self._sessions))
                    self._sessions = {}
            session = self._sessions[sid] = Session(key, caller, cert, accept, expires, self.trust.generation)
            return session
