"""The errors of the certs package, each carrying the facts a caller needs to report or answer.

A minion turns these into a refusal with a code and a text; an admin tool prints them. So each
one has a machine-readable `reason` (a `Rejection` value where it is about a peer's credential)
besides its message, as hyper-h2's errors carry the status to send back.
"""

from __future__ import annotations

from enum import StrEnum


class Rejection(StrEnum):
    """Why a certificate, a signature or a request id was refused. The values are the texts shown."""

    NOT_A_CERTIFICATE = "not a certificate"
    NOT_SIGNED_BY_CA = "not signed by this CA"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    REVOKED = "revoked"
    BAD_CRL = "crl not issued by this CA"
    CRL_EXPIRED = "crl expired"
    BAD_SIGNATURE = "bad signature"
    UNSUPPORTED_KEY = "unsupported key type"
    REPLAYED = "replayed request id"
    REQUEST_EXPIRED = "request expired"
    DEADLINE_TOO_FAR = "deadline too far in the future"
    GUARD_SATURATED = "replay guard saturated"


class CertError(Exception):
    """Base of every error raised by func_amqp.certs."""


class CredentialRejected(CertError):
    """A peer's certificate, signature or request id was refused; `reason` says which check failed."""

    def __init__(self, reason: Rejection, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class CertificateRejected(CredentialRejected):
    """verify_certificate refused the certificate (chain, validity window, revocation, parse)."""


class SignatureRejected(CredentialRejected):
    """verify_message refused the signature over a message."""


class ReplayRejected(CredentialRejected):
    """ReplayGuard refused a request id: a repeat, expired, or a deadline it cannot honour."""


class CAError(CertError):
    """A CA operation failed: no CA yet, a half-written CA directory, an unreadable file."""


class BadRequest(CAError):
    """A certificate signing request was refused (unparsable, bad signature, bad CN, weak key)."""


class NoMatch(CAError):
    """Some host names or globs matched nothing; `patterns` lists them. Nothing was changed."""

    def __init__(self, what: str, patterns: list[str]) -> None:
        self.patterns = patterns
        super().__init__(f"no {what} matches: {', '.join(patterns)}")
