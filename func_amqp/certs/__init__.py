"""Identity for func over AMQP: a certmaster-style CA, certificate checks, signed messages, mutual TLS.

func trusted whoever completed its SSL handshake with a certmaster-signed certificate. A broker
sits between caller and minion here, so the certificate travels with each signed message and the
minion checks it itself (`verify_certificate`, `verify_message`, `ReplayGuard`) before it looks up
the ACL key (`acl_key`), while XML-RPC and the broker connection keep mutual TLS (`tls`).

Modules: `ca` (the CA on disk), `config` (its paths), `requester` (a minion's key, CSR and
certificate), `names` (certmaster's subject and the subject hash), `verify`, `signing`, `tls`,
`revocation`, `pem`, `errors`, and `cli` (the `func-ca` command).

Names are imported on first use (PEP 562), so a command that only needs `tls` or `signing` (the
`func` CLI, run once per command) does not pay for the CA and its dependencies.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {  # submodule: the public names it gives this package, imported on first use
    "ca": "CertificateAuthority",
    "config": "CAConfig",
    "errors": "BadRequest CAError CertError CertificateRejected CredentialRejected NoMatch Rejection "
              "ReplayRejected SignatureRejected",
    "names": "acl_key certmaster_subject common_name decimal_to_hex hex_to_decimal sanitize_cn subject_hash "
             "subject_hash_decimal subject_hash_hex subject_hash_old_hex",
    "pem": "load_certificate load_crl load_private_key",
    "requester": "MinionFiles create_minion_keys minion_files request_certificate store_certificate",
    "signing": "ReplayGuard sign_message verify_message",
    "tls": "client_context peer_certificate server_context",
    "verify": "verify_certificate",
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names.split()}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
