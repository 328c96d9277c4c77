"""Checking a peer's certificate against our CA before anything it asks for is run.

func relied on the TLS handshake for this. Over AMQP there is no handshake between caller and
minion, only signed messages carrying the caller's certificate, so the minion must make the same
checks itself: issued by our CA with a valid signature, inside its validity window, not revoked.
A failure raises CertificateRejected whose `reason` names the check, so a refusal can say why.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from .errors import CertificateRejected, Rejection
from .pem import load_certificate, load_crl

Moment = dt.datetime | float | int | None


def as_utc(now: Moment) -> dt.datetime:
    """`now` as an aware UTC datetime: a datetime (naive means UTC), a POSIX time, or None (the clock)."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(now, int | float):
        return dt.datetime.fromtimestamp(now, dt.UTC)
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def _check_window(cert: x509.Certificate, now: dt.datetime, whose: str) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateRejected(
            Rejection.NOT_YET_VALID, f"{whose} valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%SZ}"
        )
    if now > cert.not_valid_after_utc:
        raise CertificateRejected(Rejection.EXPIRED, f"{whose} expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%SZ}")


def check_crl(crl: x509.CertificateRevocationList, ca: x509.Certificate, now: dt.datetime) -> None:
    """Refuse a CRL that our CA did not sign, or whose next update has passed (as OpenSSL does)."""
    if crl.issuer != ca.subject or not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
        raise CertificateRejected(Rejection.BAD_CRL, f"issuer {crl.issuer.rfc4514_string()}")
    next_update = crl.next_update_utc
    if next_update is not None and now > next_update:
        raise CertificateRejected(Rejection.CRL_EXPIRED, f"next update was due {next_update:%Y-%m-%d %H:%M:%SZ}")


def verify_certificate(
    cert: x509.Certificate | bytes | str,
    ca_cert: x509.Certificate | bytes | str,
    crl: x509.CertificateRevocationList | bytes | str | None = None,
    now: Moment = None,
) -> x509.Certificate:
    """Return the parsed certificate if our CA issued it, it is valid at `now` and not revoked.

    Raises CertificateRejected with reason NOT_A_CERTIFICATE, NOT_SIGNED_BY_CA, NOT_YET_VALID,
    EXPIRED (the certificate's or the CA's own window), REVOKED, or BAD_CRL / CRL_EXPIRED when the
    CRL given cannot be trusted (fail closed: a minion refuses rather than skip revocation).
    The CA certificate itself passes (func's overlord presents the CA certificate by default).
    """
    moment = as_utc(now)
    cert = load_certificate(cert)
    ca = load_certificate(ca_cert)
    try:
        cert.verify_directly_issued_by(ca)
    except ValueError as e:  # issuer name differs, or the signature algorithm does not fit the key
        raise CertificateRejected(Rejection.NOT_SIGNED_BY_CA, str(e)) from None
    except (InvalidSignature, TypeError, UnsupportedAlgorithm):
        raise CertificateRejected(Rejection.NOT_SIGNED_BY_CA, "signature does not verify with the CA key") from None
    _check_window(ca, moment, "CA certificate")
    _check_window(cert, moment, "certificate")
    if crl is not None:
        revocations = load_crl(crl)
        check_crl(revocations, ca, moment)
        entry = revocations.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            raise CertificateRejected(
                Rejection.REVOKED, f"serial {cert.serial_number} on {entry.revocation_date_utc:%Y-%m-%d}"
            )
    return cert
