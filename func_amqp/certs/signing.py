"""Signatures over requests and replies, and the replay guard a minion runs before executing one.

Over AMQP a message passes through a broker that anyone with an account can publish to, so the
caller signs each request with its certificate's key and the minion signs each reply (DESIGN.md,
"Bad input and security"). The algorithms are fixed so another implementation can interoperate:

- RSA keys: RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt length 32 bytes.
- EC keys: ECDSA with SHA-256, the signature DER-encoded (as X.509 and TLS carry it).

What bytes are signed (body plus the headers that carry the request id, deadline...) is the
transport's choice; these functions sign and check exactly the bytes given. Nothing here does I/O.
"""

from __future__ import annotations

import heapq
import threading
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .errors import Rejection, ReplayRejected, SignatureRejected
from .pem import PrivateKey, PublicKey

SALT_LENGTH = 32
MAX_SIGNATURE = 1024  # an RSA-8192 signature is 1024 bytes; anything longer is refused unread


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=SALT_LENGTH)


def sign_message(key: PrivateKey, data: bytes) -> bytes:
    """Sign `data` with an RSA (PSS) or EC (ECDSA) private key, SHA-256."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _pss(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    raise TypeError(f"cannot sign with a {type(key).__name__}; use an RSA or EC key")


def verify_message(cert: x509.Certificate | PublicKey, data: bytes, signature: bytes) -> None:
    """Check `signature` over `data` with the certificate's (or a public) key; SignatureRejected if bad.

    This checks the signature only: check the certificate itself first with verify_certificate.
    """
    key = cert.public_key() if isinstance(cert, x509.Certificate) else cert
    if not isinstance(signature, bytes | bytearray) or len(signature) > MAX_SIGNATURE:
        raise SignatureRejected(Rejection.BAD_SIGNATURE, "not a signature")
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(bytes(signature), data, _pss(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(bytes(signature), data, ec.ECDSA(hashes.SHA256()))
        else:
            raise SignatureRejected(Rejection.UNSUPPORTED_KEY, type(key).__name__)
    except InvalidSignature:
        raise SignatureRejected(Rejection.BAD_SIGNATURE, "does not verify with the signer's key") from None


class ReplayGuard:
    """Refuses a request id seen before its deadline passed; forgets ids once their deadline has passed.

    `check(request_id, deadline, now)` accepts a request (and remembers it) or raises ReplayRejected:
    REPLAYED for a repeat, REQUEST_EXPIRED if `deadline <= now`, DEADLINE_TOO_FAR if the deadline
    is more than `max_ttl` seconds ahead (it would pin memory that long).

    Memory is bounded by `max_entries`. When full, the entry with the earliest deadline is dropped
    and that deadline becomes a horizon: until it passes, requests whose deadline is not after it
    are refused (GUARD_SATURATED). A forgotten id can only come back with its own (signed) deadline,
    which is at or before the horizon, so no replay slips through; under a flood, short-deadline
    requests are refused instead. Times are POSIX seconds; the guard is thread-safe.
    """

    def __init__(self, max_entries: int = 100_000, max_ttl: float = 86_400.0) -> None:
        if max_entries < 1 or max_ttl <= 0:
            raise ValueError("max_entries must be >= 1 and max_ttl > 0")
        self.max_entries = max_entries
        self.max_ttl = max_ttl
        self._deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._horizon = float("-inf")
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._deadlines)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._deadlines

    def _expire(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, rid = heapq.heappop(self._heap)
            del self._deadlines[rid]

    def check(self, request_id: str, deadline: float, now: float | None = None) -> None:
        """Accept `request_id` (remembering it until `deadline`) or raise ReplayRejected."""
        now = time.time() if now is None else now
        with self._lock:
            self._expire(now)
            if request_id in self._deadlines:
                raise ReplayRejected(Rejection.REPLAYED, request_id)
            if deadline <= now:
                raise ReplayRejected(
                    Rejection.REQUEST_EXPIRED, f"{request_id}: deadline passed {now - deadline:.3f}s ago"
                )
            if deadline - now > self.max_ttl:
                raise ReplayRejected(
                    Rejection.DEADLINE_TOO_FAR, f"{request_id}: {deadline - now:.0f}s > {self.max_ttl:.0f}s"
                )
            if deadline <= self._horizon:
                raise ReplayRejected(Rejection.GUARD_SATURATED, f"{request_id}: deadline before {self._horizon}")
            if len(self._deadlines) >= self.max_entries and self._heap[0][0] >= deadline:
                raise ReplayRejected(Rejection.GUARD_SATURATED, f"{request_id}: full, and every id held outlives it")
            while len(self._deadlines) >= self.max_entries:
                dropped, rid = heapq.heappop(self._heap)
                del self._deadlines[rid]
                self._horizon = max(self._horizon, dropped)
            self._deadlines[request_id] = deadline
            heapq.heappush(self._heap, (deadline, request_id))
