"""`funcd`: loads the modules and serves them over AMQP (QMF) and func's XML-RPC, both on by default.

    funcd --config /etc/func/minion.conf          # foreground; `examples/funcd.service` for systemd
    funcd --list-modules | --info

It prints `funcd <name> ready: ...` once both interfaces serve, logs one audit line per call to
`audit_log`, and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from ..certs.tls import client_context, server_context
from ..facts import registry as facts_registry
from . import config as config_mod
from . import func_module
from .acls import Acls
from .amqp_interface import AmqpInterface
from .audit import AuditLog
from .auth import Authenticator
from .dispatcher import Dispatcher
from .loader import STANDARD_MODULES, load_modules
from .xmlrpc_interface import XmlRpcServer, serve_in_thread

log = logging.getLogger("funcd")


def build(cfg: config_mod.MinionConfig) -> tuple[Dispatcher, Authenticator]:
    modules = load_modules([STANDARD_MODULES, *map(Path, cfg.module_dirs)], cfg.module_list)
    facts_registry.install(facts_registry.load(cfg.facts_dirs))
    func_module.MODULE_CONF_DIR = cfg.module_conf_dir  # where modules' options live (Test.conf...)
    key_file, cert_file, ca_file = cfg.credentials()
    auth = Authenticator(ca_file, cfg.crl_location or None, allow_unsigned=cfg.allow_unsigned,
                         key_file=key_file, cert_file=cert_file)
    acls = Acls(cfg.acl_dir, ca_key=auth.ca_key(), ca_overrides=cfg.certmaster_overrides_acls)
    return Dispatcher(modules, acls=acls, audit=AuditLog(cfg.audit_log or None)), auth


def freeze_startup_heap() -> None:
    """Moves what start-up built (modules, schemas, certificates, the agent's objects) out of the
    cyclic GC's reach: it lives as long as the process, and scanning it again on every full
    collection was a large share of a busy minion's CPU (the fan-out of benchmarks/func_rpc.py).
    Objects made later are collected as usual."""
    gc.collect()
    gc.freeze()


def _setup_logging(cfg: config_mod.MinionConfig, verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else getattr(logging, cfg.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("pika").setLevel(logging.WARNING)


async def serve(cfg: config_mod.MinionConfig) -> None:
    dispatcher, auth = build(cfg)
    key_file, cert_file, ca_file = cfg.credentials()
    xmlrpc: XmlRpcServer | None = None
    if cfg.xmlrpc:
        missing = [f for f in (key_file, cert_file, ca_file) if not Path(f).exists()]
        if missing:
            raise SystemExit(f"funcd: XML-RPC needs this minion's key, certificate and the CA certificate; missing "
                             f"{missing} (create them with `func-ca request`, or set xmlrpc = no)")
        ctx = server_context(cert_file, key_file, ca_file, cfg.crl_location or None)
        xmlrpc = serve_in_thread((cfg.listen_addr or "0.0.0.0", cfg.listen_port), dispatcher, ctx)
    amqp: AmqpInterface | None = None
    if cfg.amqp:
        tls = None
        if cfg.broker_url.startswith("amqps://"):
            tls = client_context(cert_file, key_file, cfg.broker_ca_file or ca_file)
        address = f"{cfg.listen_addr or '127.0.0.1'}:{xmlrpc.server_address[1]}" if xmlrpc else ""
        amqp = AmqpInterface(dispatcher, cfg.name, url=cfg.broker_url, auth=auth, tls=tls,
                             state_dir=cfg.state_dir, heartbeat=cfg.heartbeat, xmlrpc_address=address)
        await amqp.start()
    parts = []
    if amqp:
        parts.append(f"amqp {amqp.agent.broker_bank}.{amqp.agent.agent_bank}")
    if xmlrpc:
        parts.append(f"xmlrpc {xmlrpc.server_address[0]}:{xmlrpc.server_address[1]}")
    freeze_startup_heap()
    print(f"funcd {cfg.name} ready: {', '.join(parts) or 'no interface'} ({len(dispatcher.modules)} modules)",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if amqp:
        await amqp.stop()
    if xmlrpc:
        xmlrpc.shutdown()
    dispatcher.audit.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="funcd", description="func's minion, over AMQP (QMF) and XML-RPC.")
    ap.add_argument("-c", "--config", help=f"the minion.conf to read (default {config_mod.DEFAULT_CONFIG}, "
                                           "or $FUNCD_CONFIG)")
    ap.add_argument("--name", help="the minion's name (overrides minion_name)")
    ap.add_argument("--broker-url", help="AMQP URL of the broker (overrides broker_url)")
    ap.add_argument("--no-amqp", action="store_true", help="serve XML-RPC only")
    ap.add_argument("--no-xmlrpc", action="store_true", help="serve AMQP only")
    ap.add_argument("--port", type=int, help="XML-RPC port (overrides listen_port)")
    ap.add_argument("--list-modules", action="store_true", help="print the modules that load, and exit")
    ap.add_argument("--info", action="store_true", help="print the configuration and the modules, and exit")
    ap.add_argument("--daemon", action="store_true", help="accepted for func's scripts; funcd stays in the "
                                                          "foreground (let systemd supervise it)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    overrides: dict[str, Any] = {"minion_name": args.name, "broker_url": args.broker_url, "listen_port": args.port}
    if args.no_amqp:
        overrides["amqp"] = False
    if args.no_xmlrpc:
        overrides["xmlrpc"] = False
    try:
        cfg = config_mod.load(args.config, **overrides)
    except (ValueError, OSError) as exc:
        print(f"funcd: bad configuration: {exc}", file=sys.stderr)
        return 1
    _setup_logging(cfg, args.verbose)
    if args.list_modules or args.info:
        dispatcher, _auth = build(cfg)
        if args.info:
            for k, v in sorted(vars(cfg).items()):
                print(f"{k} = {v}")
            print(f"name = {cfg.name}")
        for name in dispatcher.list_modules():
            print(name)
        return 0
    try:
        asyncio.run(serve(cfg))
    except SystemExit:
        raise
    except Exception as exc:
        print(f"funcd: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
