"""A certmaster-style certificate authority on disk: the same layout, the same request semantics.

Keeping certmaster's directories (func.md section 4) means an existing deployment's paths, admin
habits and the overlord's minion inventory (`certroot/<CN>.cert`) carry over, and an existing
certmaster CA directory can be pointed at as it is. What changes: sha256 instead of sha1/md5,
X.509 v3 extensions a modern TLS stack expects, and revocation (a revoked list and a CRL).

Every issued certificate gets certmaster's fixed subject around the CSR's (sanitised) CN, so the
CN is the file name and the ACL key `CN-hash` is the one an existing func ACL file already holds.
Mutations hold one lock file in `cadir`, so an autosigning request and an admin's `func-ca` can
run at once.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import re
import socket
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from . import pem
from .config import HASHES, CAConfig
from .errors import BadRequest, CAError, NoMatch
from .names import acl_key, certmaster_subject, common_name, sanitize_cn
from .revocation import RevokedList, build_crl, write_crl

log = logging.getLogger(__name__)

_EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_DNS_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$", re.IGNORECASE)
BACKDATE = dt.timedelta(hours=1)  # not_valid_before is set this far back, for minions whose clock lags


def _select(names: Iterable[str], patterns: Iterable[str]) -> tuple[list[str], list[str]]:
    """(the names any glob matches, the globs that matched nothing); case-sensitive like certmaster's."""
    names = sorted(set(names))
    matched: set[str] = set()
    unmatched = []
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        matched.update(hits)
        if not hits:
            unmatched.append(pattern)
    return sorted(matched), unmatched


class CertificateAuthority:
    """The CA in `config`'s directories. `create()` makes it; the other operations need it made."""

    def __init__(self, config: CAConfig | None = None) -> None:
        self.config = config or CAConfig()

    # -- the CA itself -----------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.config.key_file.exists() and self.config.cert_file.exists()

    def create(self, cn: str | None = None) -> x509.Certificate:
        """Make the CA key (`key_type`: EC P-256 by default, or RSA 2048; 0600) and self-signed
        certificate (CN `<hostname>-CA-KEY`) once.

        Idempotent: an existing CA is returned untouched (and `cn` ignored). A directory with only
        one of the key and the certificate is refused rather than overwritten.
        """
        c = self.config
        with pem.locked(c.lock_file):
            if self.exists():
                return self.ca_cert
            if c.key_file.exists() or c.cert_file.exists():
                raise CAError(f"half-created CA in {c.cadir}: one of certmaster.key / certmaster.crt is missing")
            cn = cn or f"{socket.gethostname() or 'None'}-CA-KEY"
            key = pem.generate_key(c.key_type)
            subject = certmaster_subject(sanitize_cn(cn))
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(self._next_serial())
                .not_valid_before(now - BACKDATE)
                .not_valid_after(now + dt.timedelta(days=c.ca_days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_key_usage(ca=True, rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
                .sign(key, self._hash())
            )
            pem.write_file(c.key_file, pem.key_pem(key), mode=0o600)
            pem.write_file(c.cert_file, pem.cert_pem(cert))
            for d in (c.certroot, c.csrroot):
                d.mkdir(parents=True, exist_ok=True)
            self._publish_crl(RevokedList.load(c.revoked_file))
            log.info("created CA %s in %s", cn, c.cadir)
            return cert

    @property
    def ca_cert(self) -> x509.Certificate:
        if not self.config.cert_file.exists():
            raise CAError(f"no CA in {self.config.cadir}: create it first (func-ca --create)")
        return pem.load_certificate(self.config.cert_file.read_bytes())

    def ca_cert_pem(self) -> str:
        return pem.cert_pem(self.ca_cert).decode()

    def _ca_key(self) -> pem.PrivateKey:
        try:
            return pem.load_private_key(self.config.key_file)
        except (OSError, ValueError, TypeError) as e:
            raise CAError(f"cannot load the CA key {self.config.key_file}: {e}") from None

    def _hash(self) -> hashes.HashAlgorithm:
        return HASHES[self.config.hash_function]()

    def _next_serial(self) -> int:
        """certmaster's serial.txt: the last serial issued; read, increment, write (under the lock)."""
        path = self.config.serial_file
        try:
            last = int(path.read_text().strip() or 0) if path.exists() else 0
        except ValueError:
            raise CAError(f"{path} does not hold a number") from None
        pem.write_file(path, f"{last + 1}\n".encode())
        return last + 1

    # -- paths and listings ----------------------------------------------------------------------

    def csr_path(self, cn: str) -> Path:
        return self.config.csrroot / f"{cn}.csr"

    def cert_path(self, cn: str) -> Path:
        return self.config.certroot / f"{cn}.{self.config.cert_extension}"

    @staticmethod
    def _names(directory: Path, suffix: str) -> list[str]:
        if not directory.is_dir():
            return []
        return sorted(
            p.name[: -len(suffix)] for p in directory.iterdir() if p.name.endswith(suffix) and p.name[0] != "."
        )

    def list_pending(self, globs: Iterable[str] | None = None) -> list[str]:
        """CNs with a CSR waiting for the admin (certmaster-ca --list)."""
        names = self._names(self.config.csrroot, ".csr")
        globs = list(globs or [])
        return _select(names, globs)[0] if globs else names

    def list_signed(self, globs: Iterable[str] | None = None) -> list[str]:
        """CNs with a signed certificate in certroot: the overlord's minion inventory."""
        names = self._names(self.config.certroot, f".{self.config.cert_extension}")
        globs = list(globs or [])
        return _select(names, globs)[0] if globs else names

    def certificate(self, cn: str) -> x509.Certificate | None:
        path = self.cert_path(cn)
        return pem.load_certificate(path.read_bytes()) if path.exists() else None

    def list_cert_hash(self, globs: Iterable[str] | None = None) -> list[str]:
        """func's ACL keys, `CN-<decimal subject hash>`, of the signed certificates (--list-cert-hash)."""
        keys = []
        for cn in self.list_signed(globs):
            cert = self.certificate(cn)
            if cert is not None:
                keys.append(acl_key(cert))
        return keys

    # -- requests --------------------------------------------------------------------------------

    def submit(self, csr_pem: bytes | str) -> tuple[bool, str, str]:
        """certmaster's wait_for_cert: `(True, cert_pem, ca_pem)` once signed, else `(False, '', '')`.

        A CSR already pending for the CN: False (a differing one is logged only). A certificate
        already issued for the CN: it is returned. Otherwise, with autosign, sign at once (except
        for a CN that was revoked: that one waits for the admin); without, store the CSR.
        Raises BadRequest for a CSR that does not parse, is not self-signed correctly, has an
        unusable CN or a weak key; CAError if there is no CA.
        """
        csr = self._parse_csr(csr_pem)
        cn = sanitize_cn(common_name(csr))
        ca_pem = self.ca_cert_pem()
        with pem.locked(self.config.lock_file):
            csr_file = self.csr_path(cn)
            if csr_file.exists():
                if csr_file.read_bytes() != _csr_pem(csr):
                    log.warning("a different CSR for %s arrived while one is pending; kept the first", cn)
                return False, "", ""
            cert = self.certificate(cn)
            if cert is not None:
                return True, pem.cert_pem(cert).decode(), ca_pem
            if self.config.autosign and not RevokedList.load(self.config.revoked_file).has_cn(cn):
                cert = self._issue(csr, cn)
                return True, pem.cert_pem(cert).decode(), ca_pem
            pem.write_file(csr_file, _csr_pem(csr))
            log.info("stored the CSR for %s; waiting for an admin to sign it", cn)
            return False, "", ""

    def _parse_csr(self, csr_pem: bytes | str) -> x509.CertificateSigningRequest:
        raw = csr_pem.encode("ascii", "replace") if isinstance(csr_pem, str) else bytes(csr_pem)
        if len(raw) > pem.MAX_PEM:
            raise BadRequest(f"CSR of {len(raw)} bytes is too large")
        try:
            csr = x509.load_pem_x509_csr(raw)
        except ValueError as e:
            raise BadRequest(f"not a PEM certificate request: {e}") from None
        if not csr.is_signature_valid:
            raise BadRequest("the CSR's signature does not verify with its own key")
        key = csr.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < 2048:
                raise BadRequest(f"RSA key of {key.key_size} bits; at least 2048 are required")
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(key.curve, _EC_CURVES):
                raise BadRequest(f"EC curve {key.curve.name} is not accepted")
        else:
            raise BadRequest(f"{type(key).__name__} keys are not accepted; use RSA or EC")
        return csr

    def sign(self, patterns: Iterable[str]) -> list[str]:
        """Sign the pending CSRs whose CN matches any glob (certmaster-ca --sign); returns the CNs.

        All patterns must match something, else NoMatch is raised and nothing is signed.
        """
        patterns = list(patterns)
        with pem.locked(self.config.lock_file):
            matched, unmatched = _select(self.list_pending(), patterns)
            if unmatched or not patterns:
                raise NoMatch("pending request", unmatched or ["(no host given)"])
            for cn in matched:
                self._issue(self._parse_csr(self.csr_path(cn).read_bytes()), cn)
        return matched

    def _issue(self, csr: x509.CertificateSigningRequest, cn: str) -> x509.Certificate:
        """Sign (lock held): certmaster's subject, CA:FALSE, server+client auth; store; drop the CSR."""
        ca, ca_key = self.ca_cert, self._ca_key()
        key = csr.public_key()
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(certmaster_subject(cn))
            .issuer_name(ca.subject)
            .public_key(key)  # type: ignore[arg-type]
            .serial_number(self._next_serial())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + dt.timedelta(days=self.config.cert_days), ca.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False, rsa_key=isinstance(key, rsa.RSAPublicKey)), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)  # type: ignore[arg-type]
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if _DNS_NAME.match(cn):
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        cert = builder.sign(ca_key, self._hash())
        pem.write_file(self.cert_path(cn), pem.cert_pem(cert))
        self.csr_path(cn).unlink(missing_ok=True)
        log.info("signed %s (serial %d)", cn, cert.serial_number)
        return cert

    # -- removing hosts --------------------------------------------------------------------------

    def clean(self, hosts: Iterable[str]) -> list[str]:
        """Delete the pending CSR and the certificate of each host (globs allowed), without revoking.

        The minion must then delete its own files and request again, as with certmaster-ca --clean.
        """
        hosts = list(hosts)
        with pem.locked(self.config.lock_file):
            matched, unmatched = _select([*self.list_pending(), *self.list_signed()], hosts)
            if unmatched or not hosts:
                raise NoMatch("pending request or signed certificate", unmatched or ["(no host given)"])
            for cn in matched:
                self.csr_path(cn).unlink(missing_ok=True)
                self.cert_path(cn).unlink(missing_ok=True)
                log.info("cleaned %s", cn)
        return matched

    def revoke(self, hosts: Iterable[str]) -> list[str]:
        """Revoke the signed certificates of the hosts (globs allowed): add them to the CRL, re-sign
        and write it, remove them from certroot. A revoked CN is no longer autosigned."""
        hosts = list(hosts)
        with pem.locked(self.config.lock_file):
            matched, unmatched = _select(self.list_signed(), hosts)
            if unmatched or not hosts:
                raise NoMatch("signed certificate", unmatched or ["(no host given)"])
            revoked = RevokedList.load(self.config.revoked_file)
            now = dt.datetime.now(dt.UTC)
            for cn in matched:
                cert = self.certificate(cn)
                if cert is not None:
                    revoked.add(cert.serial_number, cn, now)
            self._publish_crl(revoked)
            for cn in matched:
                self.cert_path(cn).unlink(missing_ok=True)
                self.csr_path(cn).unlink(missing_ok=True)
                log.info("revoked %s", cn)
        return matched

    def revoke_certificate(self, cert: x509.Certificate | bytes | str) -> bool:
        """Revoke any certificate this CA issued (e.g. one no longer in certroot); False if it already was."""
        cert = pem.load_certificate(cert)
        if cert.issuer != self.ca_cert.subject:
            raise CAError("that certificate was not issued by this CA")
        with pem.locked(self.config.lock_file):
            revoked = RevokedList.load(self.config.revoked_file)
            added = revoked.add(cert.serial_number, common_name(cert), dt.datetime.now(dt.UTC))
            if added:
                self._publish_crl(revoked)
        return added

    def revoked(self) -> RevokedList:
        return RevokedList.load(self.config.revoked_file)

    def _publish_crl(self, revoked: RevokedList) -> x509.CertificateRevocationList:
        revoked.crl_number += 1
        crl = build_crl(
            self.ca_cert, self._ca_key(), revoked, dt.datetime.now(dt.UTC), self.config.crl_days, self._hash()
        )
        revoked.save(self.config.revoked_file)
        write_crl(self.config.crl_file, crl)
        return crl

    def refresh_crl(self) -> x509.CertificateRevocationList:
        """Re-sign the CRL with a fresh next-update (run it well within crl_days, e.g. from cron)."""
        with pem.locked(self.config.lock_file):
            return self._publish_crl(RevokedList.load(self.config.revoked_file))

    def crl(self) -> x509.CertificateRevocationList:
        """The current CRL; written anew if missing or past its next update."""
        path = self.config.crl_file
        if path.exists():
            crl = pem.load_crl(path.read_bytes())
            if crl.next_update_utc is None or crl.next_update_utc > dt.datetime.now(dt.UTC):
                return crl
        return self.refresh_crl()


def _csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(Encoding.PEM)


def _key_usage(*, ca: bool, rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,  # TLS and request signatures (the overlord may present the CA cert)
        content_commitment=False,
        key_encipherment=rsa_key and not ca,
        data_encipherment=False,
        key_agreement=not rsa_key and not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
