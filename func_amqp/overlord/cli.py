"""`func`: func's command line (func/overlord/func_command.py) over AMQP or XML-RPC.

    func "<spec>" call <module> <method> [args...]    # pprint by default; --json --raw --basic --xmlrpc
    func "<spec>" ping
    func "<spec>" list_minions
    func "<spec>" call --async [--nopoll] [--progress] test sleep 5
    func "<spec>" call --jobstatus <job id>
    func "<spec>" call --filter "os_id=debian,memory>=4096" service status sshd   # or --filteror

Arguments on the command line are text, as in func (`call test add 1 2` gives "12"), over both
transports. Exit status: 0 when every minion answered without error, 1 when
any entry is a REMOTE_ERROR (including no answer in time), 2 for usage errors, 3 when nothing
matched the spec or the broker could not be reached. With stderr on a terminal, a fan-out that
takes longer than a second shows a progress line there.
"""

from __future__ import annotations

import argparse
import base64
import json
import pprint
import sys
import threading
import time
from typing import Any

from .. import codes
from ..facts.filter_text import parse_filter
from ..facts.query import QueryError
from . import config as config_mod
from .client import JOB_ID_FINISHED, Overlord

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOTHING = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="func", description="Call func modules on many minions at once.",
                                 epilog="exit status: 0 all answered, 1 any REMOTE_ERROR, 2 usage, "
                                        "3 no minion matched / broker unreachable")
    ap.add_argument("-t", "--timeout", type=float, help="seconds each minion has to answer (default 20)")
    ap.add_argument("-e", "--exclude", help="a spec of minions to leave out")
    ap.add_argument("-c", "--conf", help=f"overlord.conf (default {config_mod.DEFAULT_CONFIG})")
    ap.add_argument("--transport", choices=("amqp", "xmlrpc"), help="default: the config's transport (amqp)")
    ap.add_argument("--broker-url", help="AMQP URL of the broker (overrides broker_url)")
    ap.add_argument("spec", help='host spec: globs, ";"-separated, @group')
    sub = ap.add_subparsers(dest="command", required=True)
    call = sub.add_parser("call", help="call module.method on every minion")
    call.add_argument("module")
    call.add_argument("method", nargs="?")
    call.add_argument("args", nargs=argparse.REMAINDER)
    fmt = call.add_mutually_exclusive_group()
    fmt.add_argument("-j", "--json", action="store_true")
    fmt.add_argument("--raw", action="store_true")
    fmt.add_argument("-b", "--basic", action="store_true")
    fmt.add_argument("-x", "--xmlrpc", action="store_true")
    call.add_argument("-f", "--forks", type=int, default=1, help="accepted for func's scripts; calls run "
                                                                  "concurrently anyway")
    call.add_argument("-a", "--async", dest="async_", action="store_true", help="run as a job")
    call.add_argument("-n", "--nopoll", action="store_true", help="with --async: print the job id and exit")
    call.add_argument("-r", "--progress", action="store_true", help="print progress and output as it happens")
    call.add_argument("-s", "--jobstatus", action="store_true", help="MODULE is a job id: print its status")
    call.add_argument("--sort", action="store_true", help="sort the output by minion")
    facts = call.add_mutually_exclusive_group()
    facts.add_argument("--filter", help='only minions whose facts match all: "os_id=debian,memory>=4096,'
                                        'Debian in os" (=, <, >, <=, >=, in, ini)')
    facts.add_argument("--filteror", help="only minions whose facts match any of the conditions")
    ping = sub.add_parser("ping", help="test.ping every minion")
    ping.add_argument("-j", "--json", action="store_true")
    lm = sub.add_parser("list_minions", help="the minions the spec names")
    lm.add_argument("-j", "--json", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = config_mod.load(args.conf, broker_url=args.broker_url)
        if args.command == "call" and args.jobstatus:
            return _jobstatus(args, cfg)
        overlord = Overlord(args.spec, timeout=args.timeout, exclude_spec=args.exclude, transport=args.transport,
                            config=cfg)
    except codes.Func_Client_Exception as exc:
        print(f"func: {exc}", file=sys.stderr)
        return EXIT_NOTHING
    except Exception as exc:
        print(f"func: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_NOTHING
    try:
        if args.command == "list_minions":
            names = overlord.list_minions()
            print(json.dumps(names) if args.json else "\n".join(names))
            return EXIT_OK
        if args.command == "ping":
            return _ping(overlord, args)
        if not args.method:
            print("func: call needs a module and a method", file=sys.stderr)
            return EXIT_USAGE
        return _call(overlord, args)
    finally:
        overlord.close()


def _ping(overlord: Overlord, args: argparse.Namespace) -> int:
    results = _with_progress(overlord, "test.ping", lambda: overlord.test.ping())
    if args.json:
        print(json.dumps({h: (not codes.is_error(v)) for h, v in sorted(results.items())}))
    else:
        for host, value in sorted(results.items()):
            print(f"[ FAILED ] {host}" if codes.is_error(value) else f"[ ok ... ] {host}")
    return EXIT_FAILED if any(codes.is_error(v) for v in results.values()) else EXIT_OK


def _call(overlord: Overlord, args: argparse.Namespace) -> int:
    name = f"{args.module}.{args.method}"
    params = tuple(args.args)
    if args.filter or args.filteror:
        try:
            conditions = parse_filter(args.filter or args.filteror)
        except QueryError as exc:
            print(f"func: --filter: {exc}", file=sys.stderr)
            return EXIT_USAGE
        overlord = overlord.filter(**conditions) if args.filter else overlord.filter_or(**conditions)
    if args.async_:
        overlord.async_ = True
        job_id = overlord.run(args.module, args.method, params)
        if args.nopoll:
            print(job_id)
            return EXIT_OK
        on_event = _print_event if args.progress else (lambda ev: None)
        code, results = overlord.follow(job_id, on_event, timeout=overlord.timeout)
        if code != JOB_ID_FINISHED:
            for host in overlord.minions:
                results.setdefault(host, ["REMOTE_ERROR", "func.minion.codes.TimeoutException",
                                          f"job {job_id} did not finish on {host} in time", ""])
    else:
        if args.progress:
            overlord.on_event = _print_event
        results = _with_progress(overlord, name, lambda: overlord.run(args.module, args.method, params))
    _print(results, args)
    return EXIT_FAILED if any(codes.is_error(v) for v in results.values()) else EXIT_OK


def _jobstatus(args: argparse.Namespace, cfg: config_mod.OverlordConfig) -> int:
    overlord = Overlord.__new__(Overlord)  # a job id needs no spec expansion
    overlord.config = cfg
    overlord.transport_name = (args.transport or cfg.transport).lower()
    overlord.timeout = args.timeout or 20.0
    overlord._amqp = overlord._xmlrpc = None
    overlord.on_event = overlord.on_result = None
    try:
        code, results = overlord.job_status(args.module)
        _print({"status": code, "results": results}, args)
        return EXIT_OK
    finally:
        overlord.close()


def _print_event(ev: dict[str, Any]) -> None:
    kind, data = ev.get("kind"), ev.get("data")
    if kind == "progress" and isinstance(data, list | tuple) and len(data) == 2:
        text = f"{data[0]}/{data[1]}"
    else:
        text = str(data)
    print(f"{ev.get('host')}: {kind}: {text}", file=sys.stderr, flush=True)


def _with_progress(overlord: Overlord, name: str, fn: Any) -> dict[str, Any]:
    """Runs `fn`; on a terminal, a progress line on stderr once it takes more than a second."""
    total = len(overlord.minions)
    answered = [0, 0]  # answered, failed

    def on_result(_host: str, value: Any) -> None:
        answered[0] += 1
        answered[1] += codes.is_error(value)

    overlord.on_result = on_result
    if not sys.stderr.isatty():
        return fn()
    done = threading.Event()
    started = time.monotonic()

    def show() -> None:
        shown = False
        while not done.wait(0.2):
            if time.monotonic() - started > 1.0:
                shown = True
                sys.stderr.write(f"\r{name}: {answered[0]}/{total} answered, {answered[1]} failed, "
                                 f"{time.monotonic() - started:.1f} s ")
                sys.stderr.flush()
        if shown:
            sys.stderr.write("\n")

    t = threading.Thread(target=show, daemon=True)
    t.start()
    try:
        return fn()
    finally:
        done.set()
        t.join()


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"base64": base64.b64encode(v).decode("ascii")}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def _print(results: dict[str, Any], args: argparse.Namespace) -> None:
    if args.sort or args.json:
        results = dict(sorted(results.items()))
    if args.json:
        print(json.dumps(_jsonable(results)))
    elif args.raw:
        print(results)
    elif args.basic:
        for host, value in results.items():
            print(f"{host}: {value}")
    elif args.xmlrpc:
        from ..xmlrpc_i8 import dumps  # only here: xmlrpc.client costs the CLI 30 ms to import

        print(dumps((results,), methodresponse=True))
    else:
        pprint.pprint(results)


if __name__ == "__main__":
    raise SystemExit(main())
