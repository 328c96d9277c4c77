"""The certmaster-style CA with real keys in temporary directories, cross-checked with `openssl`.

The subject hash is compared with `openssl x509 -noout -subject_hash` (hex) and with the decimal
ACL keys func.md recorded from a real func install; the CRL with `openssl crl -CAfile`; mutual
TLS with a real handshake on a localhost socket; the CLI as a subprocess.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from func_amqp.certs import (
    BadRequest,
    CAConfig,
    CAError,
    CertificateAuthority,
    CertificateRejected,
    NoMatch,
    Rejection,
    ReplayGuard,
    ReplayRejected,
    SignatureRejected,
    acl_key,
    certmaster_subject,
    client_context,
    create_minion_keys,
    decimal_to_hex,
    hex_to_decimal,
    load_private_key,
    minion_files,
    peer_certificate,
    request_certificate,
    sanitize_cn,
    server_context,
    sign_message,
    store_certificate,
    subject_hash_decimal,
    subject_hash_hex,
    subject_hash_old_hex,
    verify_certificate,
    verify_message,
)

OPENSSL = shutil.which("openssl")  # `./run test` installs it (Debian's openssl) where it is missing
ROOT = Path(__file__).resolve().parents[2]


def run_openssl(*args: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None, "the openssl command is needed for the cross-check: apt-get install openssl"
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=False)


def openssl(*args: str) -> str:
    done = run_openssl(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def self_signed(name: x509.Name, key: rsa.RSAPrivateKey | None = None, days: int = 1) -> x509.Certificate:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    authority = CertificateAuthority(CAConfig.under(tmp_path / "ca"))
    authority.create(cn="certmaster-CA-KEY")
    return authority


def autosigning(ca: CertificateAuthority) -> CertificateAuthority:
    return CertificateAuthority(CAConfig.under(ca.config.cadir, autosign=True))


# -- the CA ----------------------------------------------------------------------------------------


def test_create_lays_out_certmaster_files(tmp_path: Path) -> None:
    config = CAConfig.under(tmp_path / "ca")
    ca = CertificateAuthority(config)
    cert = ca.create(cn="overlord-CA-KEY")
    assert stat.S_IMODE(os.stat(config.key_file).st_mode) == 0o600
    assert config.cert_file.exists() and config.crl_file.exists()
    assert config.serial_file.read_text().strip() == "1"
    assert config.certroot.is_dir() and config.csrroot.is_dir()
    assert cert.subject == cert.issuer == certmaster_subject("overlord-CA-KEY")
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    key = load_private_key(config.key_file)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"  # key_type "ec"
    assert 3649 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 3651
    # idempotent: the same certificate, the key untouched, the serial not advanced
    key_bytes = config.key_file.read_bytes()
    assert ca.create(cn="other-CA-KEY") == cert
    assert config.key_file.read_bytes() == key_bytes
    assert config.serial_file.read_text().strip() == "1"


def test_default_cn_is_hostname_ca_key(tmp_path: Path) -> None:
    cert = CertificateAuthority(CAConfig.under(tmp_path)).create()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{socket.gethostname()}-CA-KEY"


def test_defaults_are_certmasters() -> None:
    config = CAConfig()
    assert config.key_file == Path("/etc/pki/certmaster/ca/certmaster.key")
    assert config.cert_file == Path("/etc/pki/certmaster/ca/certmaster.crt")
    assert config.serial_file == Path("/etc/pki/certmaster/ca/serial.txt")
    assert config.crl_file == Path("/etc/pki/certmaster/ca/crl.pem")
    assert config.certroot == Path("/var/lib/certmaster/certmaster/certs")
    assert config.csrroot == Path("/var/lib/certmaster/certmaster/csrs")
    assert config.autosign is False


def test_config_from_certmaster_conf(tmp_path: Path) -> None:
    conf = tmp_path / "certmaster.conf"
    conf.write_text(f"[main]\nlog_level = INFO\nlisten_port = 51235\ncadir = {tmp_path}/ca\nautosign = yes\n")
    config = CAConfig.from_file(conf, certroot=tmp_path / "c")
    assert config.cadir == tmp_path / "ca" and config.autosign and config.certroot == tmp_path / "c"
    assert config.csrroot == CAConfig().csrroot
    conf.write_text("[main]\nhash_function = md5\n")
    with pytest.raises(CAError, match="hash_function"):
        CAConfig.from_file(conf)


def test_half_created_ca_is_refused(tmp_path: Path) -> None:
    config = CAConfig.under(tmp_path)
    CertificateAuthority(config).create(cn="x-CA-KEY")
    config.cert_file.unlink()
    with pytest.raises(CAError, match="half-created"):
        CertificateAuthority(config).create()


def test_operations_need_a_ca(tmp_path: Path) -> None:
    files = create_minion_keys(tmp_path / "m", "m1")
    with pytest.raises(CAError, match="create it first"):
        CertificateAuthority(CAConfig.under(tmp_path / "none")).submit(files.csr_pem())


# -- requests ------------------------------------------------------------------------------------


def test_minion_keys_and_csr(tmp_path: Path) -> None:
    files = create_minion_keys(tmp_path, "Web01.Example.COM")
    assert files.hostname == "web01.example.com"
    assert files.key_file.name == "web01.example.com.pem" and files.csr_file.name == "web01.example.com.csr"
    assert stat.S_IMODE(os.stat(files.key_file).st_mode) == 0o600
    csr = x509.load_pem_x509_csr(files.csr_pem())
    assert csr.is_signature_valid
    assert csr.subject == certmaster_subject("web01.example.com")
    key_before = files.key_file.read_bytes()
    assert create_minion_keys(tmp_path, "web01.example.com") == files
    assert files.key_file.read_bytes() == key_before


def test_request_with_autosign(ca: CertificateAuthority, tmp_path: Path) -> None:
    signed, files = request_certificate(autosigning(ca), tmp_path / "m", "minion01")
    assert signed and files.has_certificate()
    assert ca.list_signed() == ["minion01"] and ca.list_pending() == []
    cert = verify_certificate(files.cert_file.read_bytes(), files.ca_file.read_bytes(), ca.crl())
    assert acl_key(cert) == "minion01-351654531"  # the key func.md observed on a real func minion
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["minion01"]
    # asking again returns the same certificate
    again = autosigning(ca).submit(files.csr_pem())
    assert again == (True, files.cert_file.read_text(), files.ca_file.read_text())


def test_manual_sign_flow(ca: CertificateAuthority, tmp_path: Path) -> None:
    for host in ("web01", "web02", "db01"):
        signed, files = request_certificate(ca, tmp_path / host, host)
        assert not signed and not files.cert_file.exists()
    assert ca.list_pending() == ["db01", "web01", "web02"]
    # pending: asking again (even with a different CSR) answers False and keeps the first CSR
    first = ca.csr_path("web01").read_bytes()
    other = create_minion_keys(tmp_path / "intruder", "web01")
    assert ca.submit(other.csr_pem()) == (False, "", "")
    assert ca.csr_path("web01").read_bytes() == first
    with pytest.raises(NoMatch, match="nothing"):
        ca.sign(["web*", "nothing"])
    assert ca.list_pending() == ["db01", "web01", "web02"]  # nothing signed
    assert ca.sign(["web*"]) == ["web01", "web02"]
    assert ca.list_pending() == ["db01"] and ca.list_signed() == ["web01", "web02"]
    assert ca.list_signed(["*02"]) == ["web02"]
    signed, files = request_certificate(ca, tmp_path / "web01", "web01")
    assert signed and files.has_certificate()
    serials = {ca.certificate(cn).serial_number for cn in ca.list_signed()}  # type: ignore[union-attr]
    assert len(serials) == 2 and 1 not in serials  # serial 1 is the CA's
    assert ca.config.serial_file.read_text().strip() == "3"


def test_store_refuses_a_certificate_for_another_key(ca: CertificateAuthority, tmp_path: Path) -> None:
    signed, cert_pem, ca_pem = autosigning(ca).submit(create_minion_keys(tmp_path / "a", "host").csr_pem())
    assert signed
    other = create_minion_keys(tmp_path / "b", "host")
    with pytest.raises(CAError, match="not for the key"):
        store_certificate(other, cert_pem, ca_pem)
    assert not other.cert_file.exists()


def test_cn_is_sanitised_and_checked(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    def csr(cn: str) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        return (
            x509.CertificateSigningRequestBuilder()
            .subject_name(name)
            .sign(key, hashes.SHA256())
            .public_bytes(Encoding.PEM)
        )

    signed, cert_pem, _ = autosigning(ca).submit(csr("web/01\\..\\evil"))
    assert signed and ca.list_signed() == ["web01..evil"]
    assert x509.load_pem_x509_certificate(cert_pem.encode()).subject == certmaster_subject("web01..evil")
    for bad in ("///", "../../etc/passwd", "web*", "a b", "-rf", ".hidden", "tab\there"):
        with pytest.raises(BadRequest):
            ca.submit(csr(bad))
    assert sanitize_cn("a/b\\c") == "abc"


def test_bad_csrs_are_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(BadRequest, match="not a PEM"):
        ca.submit(b"-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n-----END CERTIFICATE REQUEST-----\n")
    with pytest.raises(BadRequest, match="too large"):
        ca.submit(b"x" * 100_000)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(weak, hashes.SHA256())
    with pytest.raises(BadRequest, match="1024 bits"):
        ca.submit(csr.public_bytes(Encoding.PEM))
    assert ca.list_pending() == []


def test_clean(ca: CertificateAuthority, tmp_path: Path) -> None:
    request_certificate(ca, tmp_path / "a", "a1")
    request_certificate(autosigning(ca), tmp_path / "b", "b1")
    assert ca.clean(["a*", "b1"]) == ["a1", "b1"]
    assert ca.list_pending() == [] and ca.list_signed() == []
    with pytest.raises(NoMatch):
        ca.clean(["a1"])


# -- the subject hash --------------------------------------------------------------------------------


SUBJECTS = [
    certmaster_subject("certmaster-CA-KEY"),
    certmaster_subject("minion01"),
    certmaster_subject("Web01.Example.COM"),
    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "  Mixed   Case\t  and Spaces  ")]),
    x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ÉCOLE   Été  ", _type=_ASN1Type.UTF8String),
            x509.NameAttribute(NameOID.COMMON_NAME, "BMP  Name", _type=_ASN1Type.BMPString),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "Root@Host.Example"),
        ]
    ),
    x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "multi"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Valued RDN"),
                ]
            ),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.SERIAL_NUMBER, "00 12", _type=_ASN1Type.NumericString)]
            ),
        ]
    ),
    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "T61 " + "x" * 60, _type=_ASN1Type.T61String)]),
]


@pytest.mark.parametrize("name", SUBJECTS, ids=lambda n: n.rfc4514_string()[:40])
def test_subject_hash_matches_openssl(name: x509.Name, tmp_path: Path) -> None:
    path = tmp_path / "c.pem"
    path.write_bytes(self_signed(name).public_bytes(Encoding.PEM))
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    assert subject_hash_hex(cert) == openssl("x509", "-in", str(path), "-noout", "-subject_hash")
    assert subject_hash_old_hex(cert) == openssl("x509", "-in", str(path), "-noout", "-subject_hash_old")
    assert subject_hash_decimal(cert) == hex_to_decimal(subject_hash_hex(cert))


def test_hash_forms_convert() -> None:
    assert hex_to_decimal("14f5d283") == "351654531"
    assert decimal_to_hex("351654531") == "14f5d283"
    assert decimal_to_hex(1147591503) == "4466db4f"
    assert subject_hash_decimal(certmaster_subject("certmaster-CA-KEY")) == "1147591503"  # func.md's audit line


def test_case_and_spacing_do_not_change_the_hash() -> None:
    def hx(cn: str) -> str:
        return subject_hash_hex(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))

    assert hx("Minion01") == hx("minion01") == hx("  MINION01 ")
    assert hx("a  b") == hx("a b") != hx("ab")


def test_list_cert_hash_equals_openssl(ca: CertificateAuthority, tmp_path: Path) -> None:
    for host in ("minion01", "web01.example.com"):
        request_certificate(autosigning(ca), tmp_path / host, host)
    keys = ca.list_cert_hash()
    assert keys[0] == "minion01-351654531"
    for key in keys:
        cn, _, decimal = key.rpartition("-")
        hexed = openssl("x509", "-in", str(ca.cert_path(cn)), "-noout", "-subject_hash")
        assert decimal_to_hex(decimal) == hexed
    assert ca.list_cert_hash(["web*"]) == [keys[1]]


# -- revocation and verification ---------------------------------------------------------------------


def test_revoke(ca: CertificateAuthority, tmp_path: Path) -> None:
    signed, files = request_certificate(autosigning(ca), tmp_path / "m", "minion02")
    assert signed
    cert_pem = files.cert_file.read_bytes()
    verify_certificate(cert_pem, ca.ca_cert, ca.crl())
    assert ca.revoke(["minion0*"]) == ["minion02"]
    assert ca.list_signed() == []
    with pytest.raises(CertificateRejected) as info:
        verify_certificate(cert_pem, ca.ca_cert, ca.crl())
    assert info.value.reason is Rejection.REVOKED
    verify_certificate(cert_pem, ca.ca_cert)  # without a CRL only the chain and the window are checked
    crl_text = openssl("crl", "-in", str(ca.config.crl_file), "-noout", "-text")
    serial = x509.load_pem_x509_certificate(cert_pem).serial_number
    assert f"{serial:02X}" in crl_text
    cafile, crlfile = str(ca.config.cert_file), str(ca.config.crl_file)
    done = run_openssl("crl", "-in", crlfile, "-CAfile", cafile, "-noout")
    assert done.returncode == 0 and "verify OK" in done.stdout + done.stderr
    # openssl verify with the CRL agrees
    crl_check = run_openssl("verify", "-crl_check", "-CAfile", cafile, "-CRLfile", crlfile, str(files.cert_file))
    assert crl_check.returncode != 0 and "revoked" in crl_check.stdout + crl_check.stderr
    # a revoked CN is not autosigned again; the admin may sign it by hand
    assert autosigning(ca).submit(files.csr_pem()) == (False, "", "")
    assert ca.list_pending() == ["minion02"]
    with pytest.raises(NoMatch):
        ca.revoke(["nobody"])


def test_crl_from_another_ca_or_stale_is_refused(ca: CertificateAuthority, tmp_path: Path) -> None:
    _, files = request_certificate(autosigning(ca), tmp_path / "m", "m1")
    other = CertificateAuthority(CAConfig.under(tmp_path / "other"))
    other.create(cn="certmaster-CA-KEY")  # same name, another key
    with pytest.raises(CertificateRejected) as info:
        verify_certificate(files.cert_file.read_bytes(), ca.ca_cert, other.crl())
    assert info.value.reason is Rejection.BAD_CRL
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    with pytest.raises(CertificateRejected) as info:
        verify_certificate(files.cert_file.read_bytes(), ca.ca_cert, ca.crl(), now=later)
    assert info.value.reason is Rejection.CRL_EXPIRED


def test_certificate_of_another_ca_is_rejected(ca: CertificateAuthority, tmp_path: Path) -> None:
    other = CertificateAuthority(CAConfig.under(tmp_path / "other", autosign=True))
    other.create(cn="certmaster-CA-KEY")  # same CA name: only the signature tells them apart
    signed, files = request_certificate(other, tmp_path / "m", "m1")
    assert signed
    for theirs in (files.cert_file.read_bytes(), other.ca_cert):
        with pytest.raises(CertificateRejected) as info:
            verify_certificate(theirs, ca.ca_cert, ca.crl())
        assert info.value.reason is Rejection.NOT_SIGNED_BY_CA
    differently_named = self_signed(certmaster_subject("elsewhere-CA-KEY"))
    with pytest.raises(CertificateRejected, match="not signed by this CA"):
        verify_certificate(differently_named, ca.ca_cert)
    verify_certificate(ca.ca_cert, ca.ca_cert, ca.crl())  # the overlord presents the CA cert itself


def test_expired_and_not_yet_valid(ca: CertificateAuthority, tmp_path: Path) -> None:
    ca_key = load_private_key(ca.config.key_file)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)

    def issued(start: dt.datetime, end: dt.datetime) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(certmaster_subject("old"))
            .issuer_name(ca.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .sign(ca_key, hashes.SHA256())
        )

    with pytest.raises(CertificateRejected) as info:
        verify_certificate(issued(now - dt.timedelta(days=30), now - dt.timedelta(days=1)), ca.ca_cert, ca.crl())
    assert info.value.reason is Rejection.EXPIRED
    with pytest.raises(CertificateRejected) as info:
        verify_certificate(issued(now + dt.timedelta(days=1), now + dt.timedelta(days=30)), ca.ca_cert)
    assert info.value.reason is Rejection.NOT_YET_VALID
    good = issued(now - dt.timedelta(days=1), now + dt.timedelta(days=1))
    verify_certificate(good, ca.ca_cert, now=now.timestamp())
    with pytest.raises(CertificateRejected, match="expired"):
        verify_certificate(good, ca.ca_cert, now=now + dt.timedelta(days=2))


@pytest.mark.parametrize("junk", [b"", b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 42])
def test_not_a_certificate(ca: CertificateAuthority, junk: object) -> None:
    with pytest.raises(CertificateRejected) as info:
        verify_certificate(junk, ca.ca_cert)  # type: ignore[arg-type]
    assert info.value.reason is Rejection.NOT_A_CERTIFICATE


# -- message signatures and replays -----------------------------------------------------------------


def test_sign_and_verify_messages(ca: CertificateAuthority, tmp_path: Path) -> None:
    _, files = request_certificate(autosigning(ca), tmp_path / "m", "m1")
    cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
    key = load_private_key(files.key_file)
    body = b"AM2M\x00\x00\x00\x07 test.ping"
    signature = sign_message(key, body)
    verify_message(cert, body, signature)
    for data, sig in ((body + b"!", signature), (body, signature[:-1] + bytes([signature[-1] ^ 1])), (body, b"")):
        with pytest.raises(SignatureRejected) as info:
            verify_message(cert, data, sig)
        assert info.value.reason is Rejection.BAD_SIGNATURE
    # the overlord signs with the CA key; someone else's key does not verify
    verify_message(ca.ca_cert, body, sign_message(load_private_key(ca.config.key_file), body))
    with pytest.raises(SignatureRejected):
        verify_message(ca.ca_cert, body, signature)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    verify_message(ec_key.public_key(), body, sign_message(ec_key, body))
    with pytest.raises(SignatureRejected):
        verify_message(ec_key.public_key(), b"other", sign_message(ec_key, body))


def test_ec_csr_is_signed(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = certmaster_subject("ec-host")
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    signed, cert_pem, ca_pem = autosigning(ca).submit(csr.public_bytes(Encoding.PEM))
    assert signed
    cert = verify_certificate(cert_pem, ca_pem)
    verify_message(cert, b"x", sign_message(key, b"x"))


def test_replay_guard() -> None:
    guard = ReplayGuard(max_entries=10, max_ttl=60)
    guard.check("r1", deadline=110, now=100)
    with pytest.raises(ReplayRejected) as info:
        guard.check("r1", deadline=110, now=105)
    assert info.value.reason is Rejection.REPLAYED
    with pytest.raises(ReplayRejected, match="request expired"):
        guard.check("r2", deadline=100, now=100)
    with pytest.raises(ReplayRejected) as info:
        guard.check("r3", deadline=1000, now=100)
    assert info.value.reason is Rejection.DEADLINE_TOO_FAR
    # once the deadline has passed the id is forgotten (and a replay is refused as expired anyway)
    guard.check("r4", deadline=200, now=150)
    assert "r1" not in guard and "r4" in guard and len(guard) == 1
    with pytest.raises(ReplayRejected, match="request expired"):
        guard.check("r1", deadline=110, now=150)


def test_replay_guard_is_bounded_and_never_lets_a_forgotten_id_back() -> None:
    guard = ReplayGuard(max_entries=3, max_ttl=1000)
    for i in range(3):
        guard.check(f"r{i}", deadline=110 + i, now=100)
    guard.check("r3", deadline=150, now=100)  # full: r0 (deadline 110) is dropped
    assert len(guard) == 3 and "r0" not in guard
    for rid, deadline in (("r0", 110), ("new-short", 105)):
        with pytest.raises(ReplayRejected) as info:
            guard.check(rid, deadline=deadline, now=101)
        assert info.value.reason is Rejection.GUARD_SATURATED
    guard.check("new-long", deadline=200, now=101)
    assert len(guard) == 3
    many = ReplayGuard(max_entries=100, max_ttl=10)
    for i in range(10_000):
        many.check(f"id{i}", deadline=i / 10 + 5, now=i / 10)
    assert len(many) <= 100


# -- mutual TLS ----------------------------------------------------------------------------------


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[x509.Certificate | None, BaseException | None]:
    """One TLS handshake on localhost: (the client cert the server saw, the server-side error)."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[x509.Certificate | None] = []
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(10)
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                seen.append(peer_certificate(tls))
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as e:
            errors.append(e)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw, client.wrap_socket(raw) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.recv(2)  # TLS 1.3 reports a refused client certificate only on the first read
    finally:
        thread.join(10)
        listener.close()
    return (seen[0] if seen else None), (errors[0] if errors else None)


@pytest.fixture
def two_hosts(ca: CertificateAuthority, tmp_path: Path):  # type: ignore[no-untyped-def]
    signer = autosigning(ca)
    _, minion = request_certificate(signer, tmp_path / "minion", "minion01")
    _, overlord = request_certificate(signer, tmp_path / "overlord", "overlord")
    return minion, overlord


def test_mtls_handshake(ca: CertificateAuthority, two_hosts) -> None:  # type: ignore[no-untyped-def]
    minion, overlord = two_hosts
    server = server_context(minion.cert_file, minion.key_file, minion.ca_file, ca.config.crl_file)
    client = client_context(overlord.cert_file, overlord.key_file, overlord.ca_file, ca.config.crl_file)
    assert server.minimum_version == client.minimum_version == ssl.TLSVersion.TLSv1_2
    assert client.verify_mode == server.verify_mode == ssl.CERT_REQUIRED and not client.check_hostname
    peer, error = handshake(server, client)
    assert error is None and peer is not None and acl_key(peer).startswith("overlord-")
    # the overlord presenting the CA certificate and key, as func does by default
    as_ca = client_context(ca.config.cert_file, ca.config.key_file, ca.config.cert_file)
    peer, error = handshake(server, as_ca)
    assert error is None and peer == ca.ca_cert


def test_mtls_refuses_no_client_cert(two_hosts) -> None:  # type: ignore[no-untyped-def]
    minion, _ = two_hosts
    server = server_context(minion.cert_file, minion.key_file, minion.ca_file)
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.check_hostname = False
    anonymous.load_verify_locations(str(minion.ca_file))
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(server, anonymous)


def test_mtls_refuses_a_client_of_another_ca(two_hosts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    minion, _ = two_hosts
    other = CertificateAuthority(CAConfig.under(tmp_path / "other", autosign=True))
    other.create(cn="certmaster-CA-KEY")
    _, stranger = request_certificate(other, tmp_path / "stranger", "overlord")
    server = server_context(minion.cert_file, minion.key_file, minion.ca_file)
    client = client_context(stranger.cert_file, stranger.key_file, minion.ca_file)  # trusts our CA, is not ours
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(server, client)
    # and a client that trusts only the other CA refuses our minion
    wary = client_context(stranger.cert_file, stranger.key_file, stranger.ca_file)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server, wary)


def test_mtls_refuses_a_revoked_client(ca: CertificateAuthority, two_hosts) -> None:  # type: ignore[no-untyped-def]
    minion, overlord = two_hosts
    ca.revoke(["overlord"])
    server = server_context(minion.cert_file, minion.key_file, minion.ca_file, ca.config.crl_file)
    client = client_context(overlord.cert_file, overlord.key_file, overlord.ca_file)
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(server, client)


# -- the func-ca command ------------------------------------------------------------------------------


def func_ca(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "func_amqp.certs.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_cli(tmp_path: Path) -> None:
    ca_dir = str(tmp_path / "ca")
    created = func_ca("--ca-dir", ca_dir, "--create", "--cn", "certmaster-CA-KEY")
    assert created.returncode == 0, created.stderr
    assert "certmaster-CA-KEY-1147591503" in created.stdout
    assert "CA exists" in func_ca("--ca-dir", ca_dir, "--create").stdout
    assert func_ca("--ca-dir", ca_dir, "-l").stdout.strip() == "No certificates to sign"

    for host in ("minion01", "web01"):
        pending = func_ca("request", "--hostname", host, "--cert-dir", str(tmp_path / host), "--ca-dir", ca_dir)
        assert pending.returncode == 3 and "func-ca --sign" in pending.stderr
    assert func_ca("--ca-dir", ca_dir, "--list").stdout.split() == ["minion01", "web01"]
    signed = func_ca("--ca-dir", ca_dir, "-s", "min*")
    assert signed.returncode == 0 and signed.stdout.strip() == "signed: minion01"
    missing = func_ca("--ca-dir", ca_dir, "--sign", "nosuch")
    assert missing.returncode == 1 and "nosuch" in missing.stderr

    got = func_ca("request", "--hostname", "minion01", "--cert-dir", str(tmp_path / "minion01"), "--ca-dir", ca_dir)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "minion01" / "minion01.cert").exists() and (tmp_path / "minion01" / "ca.cert").exists()
    auto = func_ca(
        "request", "--hostname", "db01", "--cert-dir", str(tmp_path / "db01"), "--ca-dir", ca_dir, "--autosign"
    )
    assert auto.returncode == 0, auto.stderr

    assert func_ca("--ca-dir", ca_dir, "--list-signed").stdout.split() == ["db01", "minion01"]
    hashes_out = func_ca("--ca-dir", ca_dir, "--list-cert-hash", "minion*")
    assert hashes_out.stdout.split() == ["minion01-351654531"]
    hexed = openssl("x509", "-in", str(tmp_path / "minion01" / "minion01.cert"), "-noout", "-subject_hash")
    assert hex_to_decimal(hexed) == "351654531"

    revoked = func_ca("--ca-dir", ca_dir, "--revoke", "minion01")
    assert revoked.returncode == 0 and "revoked: minion01" in revoked.stdout
    assert func_ca("--ca-dir", ca_dir, "--list-signed").stdout.split() == ["db01"]
    config = CAConfig.under(ca_dir)
    cert = (tmp_path / "minion01" / "minion01.cert").read_bytes()
    with pytest.raises(CertificateRejected, match="revoked"):
        verify_certificate(cert, config.cert_file.read_bytes(), config.crl_file.read_bytes())

    cleaned = func_ca("--ca-dir", ca_dir, "-c", "web01", "db01")
    assert cleaned.returncode == 0 and func_ca("--ca-dir", ca_dir, "--list-signed").stdout == ""
    assert func_ca("--ca-dir", ca_dir, "--crl").stdout.strip() == str(config.crl_file)


def test_cli_errors(tmp_path: Path) -> None:
    no_ca = func_ca("--ca-dir", str(tmp_path / "none"), "--list-cert-hash")
    assert no_ca.returncode == 0 and no_ca.stdout == ""  # nothing signed yet is not an error
    no_ca = func_ca("--ca-dir", str(tmp_path / "none"), "--sign", "x")
    assert no_ca.returncode == 1 and no_ca.stderr.startswith("func-ca:")
    request = func_ca(
        "request", "--hostname", "m", "--cert-dir", str(tmp_path / "m"), "--ca-dir", str(tmp_path / "none")
    )
    assert request.returncode == 1 and "create it first" in request.stderr
    assert func_ca().returncode == 2  # no action
    assert func_ca("--list", "--create").returncode == 2  # two actions
    conf = tmp_path / "bad.conf"
    conf.write_text("[main]\ncert_days = many\n")
    bad = func_ca("--config", str(conf), "--list")
    assert bad.returncode == 1 and "bad.conf" in bad.stderr


def test_minion_files_paths(tmp_path: Path) -> None:
    files = minion_files(tmp_path, "Host")
    assert (files.key_file.name, files.csr_file.name, files.cert_file.name, files.ca_file.name) == (
        "host.pem",
        "host.csr",
        "host.cert",
        "ca.cert",
    )


def test_an_rsa_ca_as_certmaster_made_them(tmp_path: Path) -> None:
    ca = CertificateAuthority(CAConfig.under(tmp_path / "ca", key_type="rsa", autosign=True))
    cert = ca.create(cn="rsa-CA-KEY")
    key = load_private_key(ca.config.key_file)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    signed, files = request_certificate(ca, tmp_path / "pki", "m1")
    assert signed and verify_certificate(files.cert_file.read_bytes(), cert).subject == certmaster_subject("m1")
