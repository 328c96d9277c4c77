"""`func-ca`: the admin's command for the CA, in the spirit of certmaster-ca (and certmaster-request).

    func-ca --create [--cn NAME]          make the CA (once)
    func-ca -l | --list                   pending requests
    func-ca -s | --sign HOST...           sign pending requests (globs)
    func-ca -c | --clean HOST...          delete a host's request and certificate
    func-ca --revoke HOST...              revoke signed certificates, re-sign the CRL
    func-ca --list-signed [GLOB...]       signed certificates
    func-ca --list-cert-hash [GLOB...]    func ACL keys, CN-<decimal subject hash>
    func-ca --crl                         refresh the CRL and print its path
    func-ca request --hostname NAME --cert-dir DIR [--ca-dir DIR] [--wait SECONDS]

Paths come from certmaster's defaults, then `--config` (certmaster.conf's [main]), then the
options. `--ca-dir DIR` makes a self-contained CA: certroot and csrroot, when still at certmaster's
defaults, become DIR/certs and DIR/csrs (`--certroot`/`--csrroot` still win).
Exit status: 0 done, 1 failed (the reason on stderr), 2 bad usage, 3 request still pending.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .ca import CertificateAuthority
from .config import CAConfig
from .errors import CertError
from .names import acl_key
from .requester import request_certificate

PENDING = 3


def _path_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="certmaster.conf-style file ([main]: cadir, certroot, csrroot, autosign...)"
    )
    parser.add_argument(
        "--ca-dir", type=Path, help="the CA directory (cadir): certmaster.key, certmaster.crt, serial.txt, crl.pem"
    )
    parser.add_argument("--certroot", type=Path, help="signed certificates, <CN>.cert")
    parser.add_argument("--csrroot", type=Path, help="pending requests, <CN>.csr")
    parser.add_argument("--autosign", action="store_true", default=None, help="sign requests at once")


def _config(args: argparse.Namespace) -> CAConfig:
    config = CAConfig.from_file(args.config) if args.config else CAConfig()
    if args.ca_dir is not None:
        default, under = CAConfig(), CAConfig.under(args.ca_dir)
        config = replace(
            config,
            cadir=args.ca_dir,
            certroot=under.certroot if config.certroot == default.certroot else config.certroot,
            csrroot=under.csrroot if config.csrroot == default.csrroot else config.csrroot,
        )
    given = {k: getattr(args, k) for k in ("certroot", "csrroot", "autosign") if getattr(args, k) is not None}
    return replace(config, **given)


def _admin_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="func-ca",
        description="Manage the func certificate authority (certmaster-style). "
        "See also: func-ca request --help (a minion's key, CSR and certificate).",
    )
    _path_options(parser)
    parser.add_argument("--cn", help="with --create: the CA's CN (default <hostname>-CA-KEY)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--create", action="store_true", help="create the CA if it does not exist")
    action.add_argument("-l", "--list", action="store_true", help="list pending certificate requests")
    action.add_argument("-s", "--sign", nargs="+", metavar="HOST", help="sign pending requests (globs)")
    action.add_argument("-c", "--clean", nargs="+", metavar="HOST", help="delete the request and certificate of HOST")
    action.add_argument("--revoke", nargs="+", metavar="HOST", help="revoke signed certificates (globs)")
    action.add_argument("--list-signed", nargs="*", metavar="GLOB", help="list signed certificates")
    action.add_argument("--list-cert-hash", nargs="*", metavar="GLOB", help="list ACL keys CN-<subject hash>")
    action.add_argument("--crl", action="store_true", help="re-sign the CRL and print its path")
    return parser


def _request_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="func-ca request",
        description="Make this host's key and CSR in --cert-dir and submit it to the local CA; "
        "store <hn>.cert and ca.cert once signed (certmaster-request).",
    )
    parser.add_argument("--hostname", required=True, help="the minion name; the CN is this, lowercased")
    parser.add_argument("--cert-dir", type=Path, help="where <hn>.pem/.csr/.cert and ca.cert live (default: cert_dir)")
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="keep asking this long (default: ask once)"
    )
    parser.add_argument(
        "--poll", type=float, default=10.0, metavar="SECONDS", help="between asks while waiting (default 10)"
    )
    _path_options(parser)
    return parser


def _run_admin(args: argparse.Namespace) -> int:
    ca = CertificateAuthority(_config(args))
    if args.create:
        existed = ca.exists()
        cert = ca.create(cn=args.cn)
        print(f"{'CA exists' if existed else 'created CA'}: {ca.config.cert_file} ({acl_key(cert)})")
    elif args.list:
        pending = ca.list_pending()
        print("\n".join(pending) if pending else "No certificates to sign")
    elif args.sign:
        for cn in ca.sign(args.sign):
            print(f"signed: {cn}")
    elif args.clean:
        for cn in ca.clean(args.clean):
            print(f"cleaned: {cn}")
    elif args.revoke:
        for cn in ca.revoke(args.revoke):
            print(f"revoked: {cn}")
        print(f"CRL: {ca.config.crl_file}")
    elif args.list_signed is not None:
        for cn in ca.list_signed(args.list_signed):
            print(cn)
    elif args.list_cert_hash is not None:
        for key in ca.list_cert_hash(args.list_cert_hash):
            print(key)
    elif args.crl:
        ca.refresh_crl()
        print(ca.config.crl_file)
    return 0


def _run_request(args: argparse.Namespace) -> int:
    config = _config(args)
    ca = CertificateAuthority(config)
    cert_dir = args.cert_dir or config.cert_dir
    give_up = time.monotonic() + args.wait
    while True:
        signed, files = request_certificate(ca, cert_dir, args.hostname)
        if signed:
            print(f"signed: {files.cert_file} (CA {files.ca_file})")
            return 0
        if time.monotonic() + args.poll > give_up:
            print(f"pending: ask the admin to run `func-ca --sign {files.hostname}`", file=sys.stderr)
            return PENDING
        time.sleep(args.poll)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["request"]:
            return _run_request(_request_parser().parse_args(argv[1:]))
        return _run_admin(_admin_parser().parse_args(argv))
    except CertError as e:
        print(f"func-ca: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"func-ca: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
