"""ssl.SSLContext factories for mutual TLS against the certmaster CA: XML-RPC over HTTPS and AMQPS.

func used one context for both ends: each side presents its certmaster certificate and requires
the peer's, verified against the CA, with **no hostname check** (func.md 1.2). We keep that, on
TLS 1.2 or later instead of SSLv3. The client does not check the host name by default because a
certificate's CN is the minion's func name (`minion_name`, possibly not a DNS name, and the
overlord presents `<host>-CA-KEY`): who the peer is, is decided from the verified certificate
(its CN and ACL key), not from the address dialled. Pass `check_hostname=True` when the peer is
a server known by DNS name, e.g. a RabbitMQ broker whose certificate carries that name.

With `crl_file`, OpenSSL also refuses a revoked leaf during the handshake (and, like
verify_certificate, refuses everything once the CRL's next update has passed).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

StrPath = str | Path


def _common(
    ctx: ssl.SSLContext, cert_file: StrPath, key_file: StrPath, ca_file: StrPath, crl_file: StrPath | None
) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    ctx.load_verify_locations(cafile=str(ca_file))
    if crl_file is not None:
        ctx.load_verify_locations(cafile=str(crl_file))
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def server_context(
    cert_file: StrPath, key_file: StrPath, ca_file: StrPath, crl_file: StrPath | None = None
) -> ssl.SSLContext:
    """A server context (minion's XML-RPC port) that requires a client certificate signed by the CA."""
    return _common(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), cert_file, key_file, ca_file, crl_file)


def client_context(
    cert_file: StrPath,
    key_file: StrPath,
    ca_file: StrPath,
    crl_file: StrPath | None = None,
    *,
    check_hostname: bool = False,
) -> ssl.SSLContext:
    """A client context (overlord to minion, or anyone to the broker) presenting our certificate and
    requiring the server's to be signed by the CA; host names are not checked unless asked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # must be off before _common sets verify_mode on a client context
    _common(ctx, cert_file, key_file, ca_file, crl_file)
    ctx.check_hostname = check_hostname
    return ctx


def peer_certificate(sock: ssl.SSLSocket | ssl.SSLObject) -> x509.Certificate | None:
    """The verified certificate the peer presented (None before the handshake), for its CN and ACL key."""
    der = sock.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None
