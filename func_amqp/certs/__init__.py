"""Identity for func over AMQP: a certmaster-style CA, certificate checks, signed messages, mutual TLS.

func trusted whoever completed its SSL handshake with a certmaster-signed certificate. A broker
sits between caller and minion here, so the certificate travels with each signed message and the
minion checks it itself (`verify_certificate`, `verify_message`, `ReplayGuard`) before it looks up
the ACL key (`acl_key`), while XML-RPC and the broker connection keep mutual TLS (`tls`).

Modules: `ca` (the CA on disk), `config` (its paths), `requester` (a minion's key, CSR and
certificate), `names` (certmaster's subject and the subject hash), `verify`, `signing`, `tls`,
`revocation`, `pem`, `errors`, and `cli` (the `func-ca` command).
"""

from .ca import CertificateAuthority
from .config import CAConfig
from .errors import (
    BadRequest,
    CAError,
    CertError,
    CertificateRejected,
    CredentialRejected,
    NoMatch,
    Rejection,
    ReplayRejected,
    SignatureRejected,
)
from .names import (
    acl_key,
    certmaster_subject,
    common_name,
    decimal_to_hex,
    hex_to_decimal,
    sanitize_cn,
    subject_hash,
    subject_hash_decimal,
    subject_hash_hex,
    subject_hash_old_hex,
)
from .pem import load_certificate, load_crl, load_private_key
from .requester import MinionFiles, create_minion_keys, minion_files, request_certificate, store_certificate
from .signing import ReplayGuard, sign_message, verify_message
from .tls import client_context, peer_certificate, server_context
from .verify import verify_certificate

__all__ = [
    "BadRequest",
    "CAConfig",
    "CAError",
    "CertError",
    "CertificateAuthority",
    "CertificateRejected",
    "CredentialRejected",
    "MinionFiles",
    "NoMatch",
    "Rejection",
    "ReplayGuard",
    "ReplayRejected",
    "SignatureRejected",
    "acl_key",
    "certmaster_subject",
    "client_context",
    "common_name",
    "create_minion_keys",
    "decimal_to_hex",
    "hex_to_decimal",
    "load_certificate",
    "load_crl",
    "load_private_key",
    "minion_files",
    "peer_certificate",
    "request_certificate",
    "sanitize_cn",
    "server_context",
    "sign_message",
    "store_certificate",
    "subject_hash",
    "subject_hash_decimal",
    "subject_hash_hex",
    "subject_hash_old_hex",
    "verify_certificate",
    "verify_message",
]
