"""Many funcd minions in one process, for the fan-out benchmark (`benchmarks/func_rpc.py`).

    .venv/bin/python benchmarks/minion_host.py --configs-from LIST [--connections C] [--label NAME]

Why: a fan-out to 1,000 minions needs 1,000 minions, and 1,000 `funcd` processes would not fit on
a 2-core machine (each is a Python interpreter of ~40 MB that needs CPU time to start, to beat and
to answer). So this process hosts many of them, and each is still a minion in every way the
overlord can see: its own minion.conf (LIST names one file per line), its own QMF agent name and
banks, its own queue, its own key and certificate signed by the fleet's CA, its own state file
and audit log. Each is built from the same pieces, in the same way, as `funcd` builds its one
minion (`func_amqp.minion.server.build`: `load_modules` + `Authenticator` + `Acls` +
`Dispatcher`, then an `AmqpInterface` started on the loop): what a request meets on the minion
side is the real code path: schema lookup, signature and certificate check, replay guard, ACL,
dispatcher, audit line, the worker thread, the boxed reply.

What differs from N funcd processes, on purpose:
- the minions share the AMQP connection(s) of this process: `--connections C` (default 1) spreads
  them round-robin over C connections, each its own `qmf.transport.Connection` (its own channel,
  prefetch and topology replay). One connection per process is what the benchmark uses (and what
  its bare pika floor does too); each minion's queue is still consumed separately on it.
- the minions share this process's event loop and, through it, one worker pool: `AmqpInterface`
  makes the loop's default executor its own, so the last one started serves every minion's calls
  (64 threads, funcd's default); a funcd process has one pool for its one minion.
- no XML-RPC listener (the configs should say `xmlrpc = no`; a listener per minion would be a
  thread and a port each, and the fan-out is measured over AMQP only).
- the background work of N minions lands on one CPU: every agent re-broadcasts its objects every
  `publish_interval` (one 'c' per module, 14 for funcd's standard modules and system) and beats every
  `heartbeat` s; at the agent's default of 10 s, 500 minions make ~700 encoded messages a second
  in this process, where N real minions would each spend 1/500 of it on a machine of their own.
  `--publish-interval` overrides the period (default: whatever funcd's `AmqpInterface` gives its
  agent), to tell that artefact apart.

It prints `minion-host <label> ready: <n> minions ...` once every minion is attached and serving,
and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from func_amqp.minion import config as config_mod  # noqa: E402 - the repo root must be on the path first
from func_amqp.minion.amqp_interface import AmqpInterface  # noqa: E402
from func_amqp.minion.dispatcher import Dispatcher  # noqa: E402
from func_amqp.minion.server import build, freeze_startup_heap  # noqa: E402
from qmf.agent import Agent  # noqa: E402
from qmf.transport import Connection  # noqa: E402

log = logging.getLogger("minion-host")

# minions starting at once: each start is ~6 channel operations (exchange, queue, binds, consume, the
# attach), which the broker serves one at a time per channel; qmf.transport gives each 10 s, and on
# a busy 2-core machine 50 starts at once exceeded that
START_BATCH = 10
START_ATTEMPTS = 3


@dataclass
class Hosted:
    """One minion of this process: its configuration and the pieces funcd would have built."""

    cfg: config_mod.MinionConfig
    dispatcher: Dispatcher
    interface: AmqpInterface


def _accepts_connection() -> bool:
    """Whether `AmqpInterface` takes a `connection=` of its own (the proposed small API change)."""
    return "connection" in inspect.signature(AmqpInterface.__init__).parameters


def make_minion(cfg: config_mod.MinionConfig, conn: Connection, publish_interval: float | None = None) -> Hosted:
    """funcd's `serve()` for one minion, AMQP side only, with its agent on the shared connection.
    `publish_interval` overrides the agent's period of re-broadcasting its objects (default: what
    funcd's `AmqpInterface` sets)."""
    if cfg.broker_url.startswith("amqps://"):
        raise SystemExit("minion-host: amqps:// is not supported here (the benchmark uses a local broker)")
    dispatcher, auth = build(cfg)
    kw = {"auth": auth, "state_dir": cfg.state_dir, "heartbeat": cfg.heartbeat, "xmlrpc_address": ""}
    if _accepts_connection():
        iface = AmqpInterface(dispatcher, cfg.name, url=cfg.broker_url, connection=conn, **kw)  # type: ignore[call-arg]
    else:
        # AmqpInterface makes its agent with a connection of its own; until it accepts one, its
        # agent is replaced before start() with the same agent (every setting copied) on the shared one
        iface = AmqpInterface(dispatcher, cfg.name, url=cfg.broker_url, **kw)  # type: ignore[arg-type]
        own = iface.agent
        iface.agent = Agent(cfg.name, connection=conn, state_dir=cfg.state_dir, label=own.label,
                            heartbeat_interval=own.heartbeat_interval, publish_interval=own.publish_interval,
                            limits=own.limits)
    if publish_interval is not None:
        iface.agent.publish_interval = publish_interval
    return Hosted(cfg, dispatcher, iface)


class MinionHost:
    """The minions of this process and the connections they share."""

    def __init__(self, configs: list[config_mod.MinionConfig], connections: int = 1, label: str = "host",
                 publish_interval: float | None = None) -> None:
        if not configs:
            raise SystemExit("minion-host: no minion configurations given")
        urls = {c.broker_url for c in configs}
        if len(urls) != 1:
            raise SystemExit(f"minion-host: every minion must use the same broker_url, got {sorted(urls)}")
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise SystemExit("minion-host: two configurations name the same minion")
        self.configs = configs
        self.url = urls.pop()
        self.label = label
        self.n_conns = max(1, min(connections, len(configs)))
        self.publish_interval = publish_interval
        self.conns: list[Connection] = []
        self.minions: list[Hosted] = []
        self.timings: dict[str, float] = {}

    async def start(self) -> None:
        """Builds every minion, then connects, then starts them in batches. Building first: it blocks
        the loop (module loading, ~50 ms a minion), and a connection left without heartbeats that
        long is closed by the broker."""
        t0 = time.perf_counter()
        self.conns = [Connection(self.url, name=f"minion-host {self.label} #{i}") for i in range(self.n_conns)]
        for i, cfg in enumerate(self.configs):
            self.minions.append(make_minion(cfg, self.conns[i % self.n_conns], self.publish_interval))
        t1 = time.perf_counter()
        await asyncio.gather(*(c.start(30.0) for c in self.conns))
        t2 = time.perf_counter()
        for i in range(0, len(self.minions), START_BATCH):
            batch = self.minions[i:i + START_BATCH]
            results = await asyncio.gather(*(m.interface.start(60.0) for m in batch), return_exceptions=True)
            for m, r in zip(batch, results, strict=True):
                if isinstance(r, BaseException):
                    await self._start_again(m, r)
        t3 = time.perf_counter()
        self.timings = {"build": t1 - t0, "connect": t2 - t1, "attach": t3 - t2}

    async def _start_again(self, m: Hosted, exc: BaseException) -> None:
        """A start that failed (a channel operation over its time limit on a busy broker) is tried again."""
        for attempt in range(2, START_ATTEMPTS + 1):
            log.warning("%s did not start (%s: %s); attempt %d", m.cfg.name, type(exc).__name__, exc, attempt)
            await asyncio.sleep(1.0)
            try:
                await m.interface.start(60.0)
                return
            except Exception as again:
                exc = again
        raise exc

    async def stop(self) -> None:
        """Stops every minion as funcd stops its one (the first stop closes a shared connection;
        the others then only cancel their loops)."""
        for m in self.minions:
            with contextlib.suppress(Exception):
                await m.interface.stop()
        for c in self.conns:
            with contextlib.suppress(Exception):
                await c.close()


def read_list(path: str) -> list[str]:
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()
            and not line.startswith("#")]


async def run(host: MinionHost) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await host.start()
        freeze_startup_heap()  # as funcd does once it is serving
        t = host.timings
        banks = [m.interface.agent.agent_bank for m in host.minions]
        print(f"minion-host {host.label} ready: {len(host.minions)} minions on {len(host.conns)} connection(s), "
              f"agent banks {min(banks)}..{max(banks)}; build {t['build']:.2f} s, connect {t['connect']:.2f} s, "
              f"attach {t['attach']:.2f} s", flush=True)
        await stop.wait()
    finally:
        await host.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="minion_host", description="Many funcd minions (AMQP only) in one process.")
    ap.add_argument("configs", nargs="*", help="minion.conf files, one minion each")
    ap.add_argument("--configs-from", help="a file listing minion.conf paths, one a line")
    ap.add_argument("--connections", type=int, default=1, help="AMQP connections the minions share (default 1)")
    ap.add_argument("--label", default="host", help="the name printed in the ready line")
    ap.add_argument("--publish-interval", type=float, help="seconds between an agent's periodic broadcasts of its "
                                                           "objects (default: as funcd's AmqpInterface sets it)")
    args = ap.parse_args(argv)
    paths = list(args.configs) + (read_list(args.configs_from) if args.configs_from else [])
    try:
        configs = [config_mod.load(p, xmlrpc=False) for p in paths]
    except (ValueError, OSError) as exc:
        print(f"minion-host: bad configuration: {exc}", file=sys.stderr)
        return 1
    level = getattr(logging, configs[0].log_level.upper(), logging.INFO) if configs else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("pika").setLevel(logging.WARNING)
    try:
        asyncio.run(run(MinionHost(configs, args.connections, args.label, args.publish_interval)))
    except SystemExit:
        raise
    except Exception as exc:
        print(f"minion-host: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
