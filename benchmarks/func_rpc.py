"""func's `test.ping` over AMQP and over XML-RPC, to one minion and fanned out, against bare pika, in one run.

    .venv/bin/python benchmarks/func_rpc.py [--quick] [--rounds R] [--hosts P] [--fanout 10,100,1000]
                                            [--root DIR] [--profile DIR]

Why: func's overlord is a script-facing API (`Overlord("web*").test.ping()`); what it costs on top of
the AMQP round trips under it decides whether this port is worth it. The goals (from the issue): one
call at most 1.3x a bare pika ping-pong's; a fan-out to 1,000 minions at most 1.5x a bare pika
fan-out to 1,000 queues; one call over AMQP at least 10x faster than over our XML-RPC interface.
The CLI `func <one minion> ping` is timed as a whole process against `python3 -c pass` (no goal).

How, on the local RabbitMQ, in a fresh vhost deleted at the end (`examples/local_fleet.py`):
- the fleet: the CA (autosign), the broker role, and minion `m1` as a real `funcd` process (AMQP and
  XML-RPC); the overlord authenticates with the CA's key (func's default): one signed handshake
  per minion, then HMACs under the session both ways (`func_amqp.request_auth`); the minions check
  every MAC, deadline and request id, the overlord every reply's MAC.
- one call: `Overlord("m1", noglobs=True, config=...)`, then sequential `.test.ping()` (median and
  p99 after a warm-up); the same over XML-RPC (`transport="xmlrpc"`, m1's address in the config's
  [minions], TLS with client certificates as func). Floor: a bare pika request/reply ping-pong to a
  bare pika server process, bodies of the same sizes as func's 'M' request and 'm' reply; both pika
  adapters (BlockingConnection, asyncio) for server and client, the best pair's figure kept.
- fan-out: the minions `fan0000`... are hosted by `--hosts` processes of `benchmarks/minion_host.py`
  (every minion its own agent, queue, key and certificate signed by the fleet's CA, all of a host on
  one AMQP connection; names dealt round-robin, so any glob spreads evenly). Timed: building
  `Overlord("fan00??", config=...)` (the glob over the CA's inventory) plus `.test.ping()` returning
  all N entries, each checked to be 1. Floor: one request published to each of N queues consumed
  by as many bare pika server processes as there are hosts (the same queues-per-process), and all N
  replies awaited; again both adapters on both sides, the best pair kept.
- keys: one per minion, of the CA API's default type, made by the fleet's own `minion_config` (key,
  CSR, the CA signing it) in parallel forked worker processes (RSA 2048 generation takes ~0.1 s a
  key); `--root DIR` keeps the CA and the keys for the next run.
- the matched floor: bare pika again (asyncio server and client), doing what func's AMQP does on
  the wire and nothing more: requests through a topic exchange with `mandatory`, a per-message TTL
  and headers of the sizes func sends, a prefetch window and manual acks (one per loop turn, as
  funcd's), replies through `amq.direct` with a minion's headers. Its ratio to the floor is what
  the protocol costs (broker and pika); func's ratio to it is what func's own code costs.
  "XML-RPC / floor" is the most any client on pika could reach against the 10x goal: the floor is
  the fastest round trip.
- two phases: first the one-call figures and the CLI with m1 the only minion running; then, with
  the hosted minions up, one call again (an overlord of a big fleet decodes every minion's heartbeat
  and the broker role's report of it) and the fan-outs.
- `--rounds R` repeats every measurement of a phase R times, interleaved (floor, func, floor,
  func...), and keeps each figure's best: other work on a shared machine then skews both alike.
- CPU time per operation of the caller (this process) and of the callee (funcd m1, the hosts, or
  the bare servers) is printed beside the times: it moves less than they do when other work shares
  the machine (though contention inflates it too).
- the floors and XML-RPC run with no AMQP transport of func's open in this process (see `bare`);
  the minions keep beating and publishing throughout, for floor and func alike.
- `--profile DIR` then samples the overlord and the minion side with py-spy (raw format, GIL holders
  only, see `sampled`) during one more single-call loop and one more loop of the largest fan-out,
  and prints each process's CPU per operation and where its Python time goes.

`--quick` is a smoke run (fewer calls, fan-out to 10 and 100). Figures are printed, not asserted;
the exit code is 0 unless something failed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import io
import json
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

import pika  # noqa: E402 - the repo root must be on the path first
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from local_fleet import LocalFleet, Process  # noqa: E402
from pika.adapters.asyncio_connection import AsyncioConnection  # noqa: E402
from pika.spec import BasicProperties  # noqa: E402
from qmf_rpc import server_version  # noqa: E402 - the QMF benchmark's, beside this file

from codec import MethodResponse, encode, iter_messages  # noqa: E402
from func_amqp.certs import load_private_key  # noqa: E402
from func_amqp.overlord import client as overlord_client  # noqa: E402
from func_amqp.overlord.client import Overlord  # noqa: E402
from func_amqp.overlord.config import OverlordConfig  # noqa: E402
from func_amqp.qmfmap import RESULT  # noqa: E402
from func_amqp.request_auth import H_MAC  # noqa: E402
from func_amqp.values import box  # noqa: E402
from qmf.protocol import H_AGENT  # noqa: E402

MINION_HOST = ROOT / "benchmarks" / "minion_host.py"
SINGLE = "m1"
PREFIX = "fan"
KINDS = ("blocking", "asyncio")  # pika adapters, for the floor's servers and clients
MATCHED = "matched"  # the floor with the AMQP features func uses (the asyncio pair, as a rule the fastest)
HEARTBEAT = 5.0  # funcd's default (minion.conf `heartbeat`); LocalFleet's 1 s would be 5x the beats


# -- figures ------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One path's timings (ns) and its CPU time per operation (ms) on the caller's and callee's side."""

    name: str
    times: list[int]
    cpu_caller: float = 0.0
    cpu_callee: float = 0.0
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)  # other per-run medians (ms), e.g. glob expansion

    @property
    def median(self) -> float:
        return statistics.median(self.times) / 1e6

    @property
    def p99(self) -> float:
        if len(self.times) < 100:
            return max(self.times) / 1e6
        return statistics.quantiles(self.times, n=100, method="inclusive")[98] / 1e6


def best(samples: Iterable[Sample]) -> Sample:
    """The sample with the lowest median (the floor is the best bare pika can do)."""
    return min(samples, key=lambda s: s.median)


class CpuMeter:
    """CPU seconds of this process and of some others (from /proc), between `start` and `stop`."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = list(pids)
        self.c0 = self.s0 = 0.0

    def _others(self) -> float:
        total = 0.0
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / self.TICK  # utime, stime
        return total

    def start(self) -> None:
        self.c0, self.s0 = time.process_time(), self._others()

    def stop(self, sample: Sample, ops: int) -> Sample:
        sample.cpu_caller = (time.process_time() - self.c0) / ops * 1e3
        sample.cpu_callee = (self._others() - self.s0) / ops * 1e3
        return sample


# -- the floor's servers (child processes: `--serve-floor KIND --queues-from FILE`) -------------------
def serve_blocking(url: str, queues: list[str], reply: bytes) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()

    def on_message(c: Any, _m: Any, props: BasicProperties, _body: bytes) -> None:
        c.basic_publish("", props.reply_to, reply, BasicProperties(correlation_id=props.correlation_id))

    for q in queues:
        ch.queue_declare(q, exclusive=True)
        ch.basic_consume(q, on_message, auto_ack=True)
    print("floor-server ready", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        ch.start_consuming()


async def serve_asyncio(url: str, queues: list[str], reply: bytes) -> None:
    link = await AioLink.open(url)
    ch = link.ch

    def on_message(c: Any, _m: Any, props: BasicProperties, _body: bytes) -> None:
        c.basic_publish("", props.reply_to, reply, BasicProperties(correlation_id=props.correlation_id))

    for q in queues:
        await link.rpc(lambda cb, q=q: ch.queue_declare(q, exclusive=True, callback=cb))
        await link.rpc(lambda cb, q=q: ch.basic_consume(q, on_message, auto_ack=True, callback=cb))
    print("floor-server ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    link.conn.close()


MATCHED_EXCHANGE = "floor.matched"  # a topic exchange of the matched floor's own (func's requests go through one)


async def serve_matched(url: str, queues: list[str], reply: bytes, reply_headers: dict[str, Any]) -> None:
    """The bare pika server with the AMQP features func uses: its queues bound to a topic exchange, a prefetch
    window with manual acks (one per loop turn), the reply through `amq.direct` with headers of the
    sizes of a minion's (its agent name and MAC). Nothing else: no decoding, no checks, no audit."""
    link = await AioLink.open(url)
    ch = link.ch
    loop = asyncio.get_running_loop()
    due = [0]  # the last delivery tag to ack: one ack per loop turn, as funcd acks (the least the broker can do)

    def ack() -> None:
        ch.basic_ack(due[0], multiple=True)
        due[0] = 0

    def on_message(c: Any, m: Any, props: BasicProperties, _body: bytes) -> None:
        c.basic_publish("amq.direct", props.reply_to, reply, BasicProperties(
            content_type="amqp/binary", correlation_id=props.correlation_id, headers=reply_headers))
        if not due[0]:
            loop.call_soon(ack)
        due[0] = m.delivery_tag

    await link.rpc(lambda cb: ch.exchange_declare(MATCHED_EXCHANGE, exchange_type="topic", auto_delete=True,
                                                  callback=cb))
    await link.rpc(lambda cb: ch.basic_qos(prefetch_count=256, callback=cb))
    for q in queues:
        await link.rpc(lambda cb, q=q: ch.queue_declare(q, exclusive=True, callback=cb))
        await link.rpc(lambda cb, q=q: ch.queue_bind(q, MATCHED_EXCHANGE, routing_key=q, callback=cb))
        await link.rpc(lambda cb, q=q: ch.basic_consume(q, on_message, auto_ack=False, callback=cb))
    print("floor-server ready", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    link.conn.close()


class AioLink:
    """One pika AsyncioConnection and channel, opened with awaitables (the measuring is callbacks)."""

    def __init__(self, conn: AsyncioConnection, ch: Any) -> None:
        self.conn = conn
        self.ch = ch

    @classmethod
    async def open(cls, url: str) -> AioLink:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()

        def settle(exc: BaseException | None) -> None:
            if not opened.done():
                opened.set_exception(exc) if exc else opened.set_result(None)

        conn = AsyncioConnection(pika.URLParameters(url), lambda _c: settle(None),
                                 lambda _c, e: settle(RuntimeError(f"cannot connect: {e!r}")),
                                 lambda _c, e: settle(RuntimeError(f"connection closed: {e!r}")), custom_ioloop=loop)
        await asyncio.wait_for(opened, 10)
        link = cls(conn, None)
        link.ch = await link.rpc(lambda cb: conn.channel(on_open_callback=cb))
        return link

    async def rpc(self, start: Callable[[Callable[[Any], None]], None]) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        start(lambda value: None if fut.done() else fut.set_result(value))
        return await asyncio.wait_for(fut, 10)


# -- the floor's clients --------------------------------------------------------------------------------
class BlockingClient:
    """Bare pika on a BlockingConnection: publish, then process I/O until the replies are in."""

    def __init__(self, url: str) -> None:
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.ch = self.conn.channel()
        self.reply_q = self.ch.queue_declare("", exclusive=True).method.queue
        self.prefix = ""
        self.got = 0
        self.ch.basic_consume(self.reply_q, self._on_reply, auto_ack=True)

    def _on_reply(self, _c: Any, _m: Any, props: BasicProperties, _body: bytes) -> None:
        if (props.correlation_id or "").startswith(self.prefix):
            self.got += 1

    def _wait(self, n: int) -> None:
        while self.got < n:
            self.conn.process_data_events(time_limit=None)

    def ping_pong(self, queue: str, body: bytes, n: int) -> list[int]:
        out = []
        props = BasicProperties(reply_to=self.reply_q)
        for i in range(n):
            self.prefix, self.got = f"{i}.", 0
            props.correlation_id = f"{i}.0"
            t0 = time.perf_counter_ns()
            self.ch.basic_publish("", queue, body, props)
            self._wait(1)
            out.append(time.perf_counter_ns() - t0)
        return out

    def fan_out(self, queues: list[str], body: bytes, run: int) -> int:
        self.prefix, self.got = f"f{run}.", 0
        t0 = time.perf_counter_ns()
        for i, q in enumerate(queues):
            self.ch.basic_publish("", q, body, BasicProperties(reply_to=self.reply_q, correlation_id=f"f{run}.{i}"))
        self._wait(len(queues))
        return time.perf_counter_ns() - t0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


class AsyncioClient:
    """Bare pika on the asyncio adapter, on a loop of its own: a ping-pong sends the next request
    from the reply's callback (no futures per call); a fan-out publishes all, then awaits one future."""

    def __init__(self, url: str, shape: dict[str, Any] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.link = self.loop.run_until_complete(AioLink.open(url))
        ch = self.link.ch
        frame = self.loop.run_until_complete(self.link.rpc(lambda cb: ch.queue_declare("", exclusive=True,
                                                                                         callback=cb)))
        self.reply_q = frame.method.queue
        # `shape`: func's request headers (the matched floor): then requests go through the topic
        # exchange with mandatory, a per-message TTL and those headers, and replies come by amq.direct
        self.shape = shape
        self._bare = BasicProperties(reply_to=self.reply_q)
        if shape is not None:
            self.loop.run_until_complete(self.link.rpc(lambda cb: ch.queue_bind(self.reply_q, "amq.direct",
                                                                                routing_key=self.reply_q,
                                                                                callback=cb)))
        self.on_reply: Callable[[str], None] = lambda cid: None
        self.loop.run_until_complete(self.link.rpc(lambda cb: ch.basic_consume(
            self.reply_q, lambda _c, _m, props, _b: self.on_reply(props.correlation_id or ""), auto_ack=True,
            callback=cb)))

    def ping_pong(self, queue: str, body: bytes, n: int) -> list[int]:
        out: list[int] = []
        state = {"i": 0, "t0": 0}

        async def go() -> None:
            done = self.loop.create_future()

            def send() -> None:
                state["t0"] = time.perf_counter_ns()
                self._publish(queue, body, str(state["i"]))

            def on_reply(cid: str) -> None:
                if cid != str(state["i"]):
                    return
                out.append(time.perf_counter_ns() - state["t0"])
                state["i"] += 1
                if state["i"] < n:
                    send()
                elif not done.done():
                    done.set_result(None)

            self.on_reply = on_reply
            send()
            await asyncio.wait_for(done, 60)

        self.loop.run_until_complete(go())
        return out

    def fan_out(self, queues: list[str], body: bytes, run: int) -> int:
        prefix = f"f{run}."

        async def go() -> int:
            done = self.loop.create_future()
            left = [len(queues)]

            def on_reply(cid: str) -> None:
                if cid.startswith(prefix):
                    left[0] -= 1
                    if left[0] == 0 and not done.done():
                        done.set_result(None)

            self.on_reply = on_reply
            t0 = time.perf_counter_ns()
            for i, q in enumerate(queues):
                self._publish(q, body, f"{prefix}{i}")
            await asyncio.wait_for(done, 60)
            return time.perf_counter_ns() - t0

        return self.loop.run_until_complete(go())

    def _publish(self, queue: str, body: bytes, cid: str) -> None:
        """One request; in the matched floor with func's properties, made afresh per message as func
        makes them, through the topic exchange with `mandatory`."""
        if self.shape is None:  # one properties object, as bare as it gets (pika marshals it at once)
            self._bare.correlation_id = cid
            self.link.ch.basic_publish("", queue, body, self._bare)
            return
        props = BasicProperties(content_type="amqp/binary", reply_to=self.reply_q, correlation_id=cid,
                                message_id=f"floor.{cid}", expiration="10000", headers=dict(self.shape))
        self.link.ch.basic_publish(MATCHED_EXCHANGE, queue, body, props, mandatory=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.link.conn.close()
            self.loop.run_until_complete(asyncio.sleep(0.05))
        self.loop.close()


def make_client(kind: str, url: str) -> BlockingClient | AsyncioClient:
    return BlockingClient(url) if kind == "blocking" else AsyncioClient(url)


# -- keys and certificates ----------------------------------------------------------------------------
_FLEET: LocalFleet | None = None  # the fleet, for the forked workers below (set before they fork)


def _minion_config(name: str) -> str:
    """In a worker process: the fleet's own `minion_config` (the minion's key and CSR, the CA
    signing it through its API and locks, the minion.conf), AMQP only. Returns the conf's path."""
    assert _FLEET is not None
    return str(_FLEET.minion_config(name, xmlrpc="no"))


def minion_configs(fleet: LocalFleet, names: list[str], workers: int) -> tuple[list[str], int]:
    """The minion.conf of each name, made by `workers` forked processes (key generation, RSA 2048's, is
    what takes the time); returns the paths and how many keys were new (an earlier run with the
    same --root made the others). Forks before any thread of this process exists."""
    global _FLEET
    made = sum(not (fleet.root / "minions" / n / "pki" / f"{n}.cert").exists() for n in names)
    _FLEET = fleet
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            paths = list(pool.map(_minion_config, names, chunksize=8))
    finally:
        _FLEET = None
    return paths, made


# -- the benchmark's fleet ----------------------------------------------------------------------------
def fan_names(total: int) -> list[str]:
    width = max(4, len(str(total - 1)))
    return [f"{PREFIX}{i:0{width}d}" for i in range(total)]


def fan_glob(n: int, total: int) -> str:
    """The glob naming exactly the first `n` minions (`n` a power of ten): fan000? is 10 of them."""
    width = max(4, len(str(total - 1)))
    digits = len(str(n)) - 1
    return f"{PREFIX}{'0' * (width - digits)}{'?' * digits}"


class Bench:
    """Everything the run starts, and its cleanup (which runs whatever happened before it)."""

    def __init__(self, opts: argparse.Namespace) -> None:
        self.opts = opts
        self.own_root = opts.root is None
        self.root = Path(opts.root or tempfile.mkdtemp(prefix="func-rpc-bench-"))
        self.fleet: LocalFleet | None = None
        self.hosts: list[Process] = []
        self.floor_single: dict[str, Process] = {}
        self.floor_fan: dict[str, list[Process]] = {}
        self.total = max(opts.fanout) if opts.fanout else 0
        self.names = fan_names(self.total) if self.total else []
        self.setup: dict[str, float] = {}
        self.made_keys = 0
        self.sizes: dict[str, int] = {}
        self.shape: dict[str, Any] = {}  # func's request headers, values of the same sizes (the matched floor)
        self.host_lines: list[str] = []
        self.confs: list[str] = []

    # -- setup --------------------------------------------------------------------------------------
    def start(self) -> None:
        """The CA, every minion's key and configuration, the broker role and funcd m1: what the
        one-call figures need. The minion hosts come later (`start_hosts`), so that the one-call
        figures are not those of a process decoding the heartbeats of 1,000 minions too."""
        t0 = time.perf_counter()
        for stale in ("broker-role", "jobs", "hosts"):  # a reused --root keeps only the CA and the keys
            shutil.rmtree(self.root / stale, ignore_errors=True)
        for d in (self.root / "minions").glob("*") if (self.root / "minions").is_dir() else []:
            shutil.rmtree(d / "state", ignore_errors=True)
            (d / "audit.log").unlink(missing_ok=True)
        self.fleet = fleet = LocalFleet(self.root, heartbeat=HEARTBEAT)
        t1 = time.perf_counter()
        self.confs, self.made_keys = minion_configs(fleet, self.names, self.opts.keygen_workers)
        t2 = time.perf_counter()
        fleet.start_broker_role()
        fleet.start_minions([SINGLE])
        t3 = time.perf_counter()
        self.setup.update({"vhost and CA": t1 - t0, "minion keys, certificates and configs": t2 - t1,
                           "broker role and funcd m1": t3 - t2})

    def _partition(self, items: list[str]) -> list[list[str]]:
        p = self.opts.hosts
        return [items[i::p] for i in range(p)]

    def start_hosts(self) -> None:
        """The minion hosts, each with its share of the minions (dealt round-robin)."""
        confs = self.confs
        if not confs:
            return
        t0 = time.perf_counter()
        hosts_dir = self.root / "hosts"
        hosts_dir.mkdir(exist_ok=True)
        for i, part in enumerate(self._partition(confs)):
            lst = hosts_dir / f"host{i}.list"
            lst.write_text("\n".join(part) + "\n")
            extra = ([] if self.opts.minion_publish_interval is None else
                     ["--publish-interval", str(self.opts.minion_publish_interval)])
            self.hosts.append(Process([sys.executable, str(MINION_HOST), "--configs-from", str(lst), "--label",
                                       f"host{i}", *extra], f"minion host {i}"))
        for i, h in enumerate(self.hosts):
            self.host_lines.append(h.wait_for(f"minion-host host{i} ready", timeout=1800))
        self.setup["minion hosts"] = time.perf_counter() - t0

    def start_floors(self, reply_size: int) -> None:
        """The bare pika servers, answering with bodies of the size of func's reply; those of the
        matched floor also with headers of the sizes of a minion's."""
        assert self.fleet is not None
        t0 = time.perf_counter()
        me = str(Path(__file__).resolve())
        d = self.root / "floor"
        d.mkdir(exist_ok=True)
        waits: list[Process] = []
        reply_headers = json.dumps({H_AGENT: SINGLE, H_MAC: "x" * 44})

        def spawn(kind: str, queues: list[str], tag: str) -> Process:
            lst = d / f"{tag}.list"
            lst.write_text("\n".join(queues) + "\n")
            extra = ["--reply-headers", reply_headers] if kind == MATCHED else []
            p = Process([sys.executable, me, "--serve-floor", kind, "--url", self.fleet.url,  # type: ignore[union-attr]
                         "--queues-from", str(lst), "--reply-size", str(reply_size), *extra], f"floor server {tag}")
            waits.append(p)
            return p

        for kind in (*KINDS, MATCHED):
            self.floor_single[kind] = spawn(kind, [f"floor.{kind}.one"], f"{kind}-one")
            if self.names:
                self.floor_fan[kind] = [spawn(kind, [f"floor.{kind}.{n}" for n in part], f"{kind}-fan{i}")
                                        for i, part in enumerate(self._partition(self.names))]
        for p in waits:
            p.wait_for("floor-server ready", timeout=120)
        self.setup["floor servers"] = time.perf_counter() - t0

    def _floor_procs(self) -> list[Process]:
        return [*self.floor_single.values(), *(p for ps in self.floor_fan.values() for p in ps)]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            overlord_client.close_all()
        for p in [*self._floor_procs(), *self.hosts]:
            with contextlib.suppress(Exception):
                p.kill(signal.SIGTERM)
        if self.fleet is not None:
            with contextlib.suppress(Exception):
                self.fleet.close()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- what the measurements need -----------------------------------------------------------------
    def config(self) -> OverlordConfig:
        assert self.fleet is not None
        return self.fleet.config()

    def xmlrpc_config(self) -> OverlordConfig:
        """m1's XML-RPC address in [minions], as a func admin would write it (otherwise each call
        first asks m1 over QMF where its XML-RPC listens)."""
        assert self.fleet is not None
        return dataclasses.replace(self.config(), minions={SINGLE: f"127.0.0.1:{self.fleet.ports[SINGLE]}"})

    def m1_pid(self) -> int:
        assert self.fleet is not None
        return self.fleet.minions[SINGLE].popen.pid

    def host_pids(self) -> list[int]:
        return [h.popen.pid for h in self.hosts]


# -- func's side --------------------------------------------------------------------------------------
def request_sizes(overlord: Overlord) -> tuple[dict[str, int], dict[str, Any]]:
    """Bytes of func's 'M' request body, of its AMQP headers, and of the 'm' reply, seen on one call
    under the session (after the handshake); and those headers with values of the same sizes."""
    t = overlord.amqp()
    seen: dict[str, Any] = {}
    sessions = t.sessions
    sign = sessions.sign

    def spy(peer: Any, key: str, body: bytes, headers: dict[str, Any]) -> dict[str, Any]:
        added = sign(peer, key, body, headers)
        seen["body"], seen["headers"] = body, {**headers, **added}
        return added

    sessions.sign = spy
    try:
        for _ in range(2):  # the first may be the handshake
            if overlord.test.ping() != 1:
                raise RuntimeError("m1's test.ping did not return 1")
    finally:
        del sessions.sign
    [req] = list(iter_messages(seen["body"], schemas=t.console.schemas))
    reply = encode(MethodResponse(seq=req.seq, method=req.schema.method(req.method), out_args={RESULT: box(1)}))
    header_bytes = sum(len(str(k)) + len(str(v)) for k, v in seen["headers"].items())
    shape = {k: v if isinstance(v, int) else "x" * len(str(v)) for k, v in seen["headers"].items()}
    return {"request": len(seen["body"]), "reply": len(reply), "headers": header_bytes}, shape


def func_single(bench: Bench, transport: str, warmup: int, calls: int) -> Sample:
    """Sequential `test.ping` to m1 as a script makes it: one Overlord, many calls (the AMQP
    transport is the process's shared one; each XML-RPC call is a new TLS connection, as in func)."""
    cfg = bench.xmlrpc_config() if transport == "xmlrpc" else bench.config()
    o = Overlord(SINGLE, noglobs=True, config=cfg, transport=transport)
    for _ in range(warmup):
        o.test.ping()
    meter = CpuMeter([bench.m1_pid()])
    times, bad = [], 0
    meter.start()
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        v = o.test.ping()
        times.append(time.perf_counter_ns() - t0)
        bad += v != 1
    o.close()
    if bad:
        raise RuntimeError(f"{bad} of {calls} {transport} calls did not return 1")
    return meter.stop(Sample(f"func {transport}", times), calls)


def func_fanout(bench: Bench, n: int, warmup: int, runs: int) -> Sample:
    """`Overlord(glob).test.ping()` as a script writes it, the glob naming the first `n` minions; the
    Overlord is built inside the timing (expanding the spec over the CA's inventory is part of a call)."""
    cfg = bench.config()
    spec = fan_glob(n, bench.total)
    want = set(bench.names[:n])
    meter = CpuMeter(bench.host_pids())
    times, expand = [], []
    for run in range(warmup + runs):
        if run == warmup:
            meter.start()
        t0 = time.perf_counter_ns()
        o = Overlord(spec, config=cfg)
        t1 = time.perf_counter_ns()
        r = o.test.ping()
        t2 = time.perf_counter_ns()
        wrong = {k: v for k, v in r.items() if v != 1}
        if set(r) != want or wrong:
            raise RuntimeError(f"fan-out {spec}: {len(r)} entries for {n} minions, "
                               f"{len(wrong)} not 1 (e.g. {next(iter(wrong.items()), None)})")
        if run >= warmup:
            times.append(t2 - t0)
            expand.append(t1 - t0)
    s = meter.stop(Sample(f"func fan-out {n}", times), runs)
    s.extra["expand"] = statistics.median(expand) / 1e6
    return s


def floor_single(bench: Bench, body: bytes, warmup: int, calls: int) -> Sample:
    """The best bare pika ping-pong of the four adapter pairs: the floor a call cannot go under."""
    samples = []
    for server in KINDS:
        for kind in KINDS:
            c = make_client(kind, bench.fleet.url)  # type: ignore[union-attr]
            try:
                q = f"floor.{server}.one"
                c.ping_pong(q, body, warmup)
                meter = CpuMeter([bench.floor_single[server].popen.pid])
                meter.start()
                s = Sample(f"{server}/{kind}", c.ping_pong(q, body, calls))
                samples.append(meter.stop(s, calls))
            finally:
                c.close()
    b = best(samples)
    b.note = f"server/client {b.name}; others " + ", ".join(f"{s.name} {s.median:.3f}" for s in samples if s is not b)
    return b


def floor_fanout(bench: Bench, n: int, body: bytes, warmup: int, runs: int) -> Sample:
    """The best bare pika fan-out of the four adapter pairs, to the floor servers' queues of the same
    `n` names (so each server process answers as many as each minion host does)."""
    samples = []
    names = bench.names[:n]
    for server in KINDS:
        queues = [f"floor.{server}.{name}" for name in names]
        for kind in KINDS:
            c = make_client(kind, bench.fleet.url)  # type: ignore[union-attr]
            try:
                for run in range(warmup):
                    c.fan_out(queues, body, run)
                meter = CpuMeter(p.popen.pid for p in bench.floor_fan[server])
                meter.start()
                s = Sample(f"{server}/{kind}", [c.fan_out(queues, body, warmup + run) for run in range(runs)])
                samples.append(meter.stop(s, runs))
            finally:
                c.close()
    b = best(samples)
    b.note = f"server/client {b.name}; others " + ", ".join(f"{s.name} {s.median:.2f}" for s in samples if s is not b)
    return b


def matched_single(bench: Bench, body: bytes, warmup: int, calls: int) -> Sample:
    """The bare pika ping-pong with the AMQP features func uses (`serve_matched`, `AsyncioClient(url, shape)`):
    what the broker and pika cost func's requests before any of func's own code runs."""
    c = AsyncioClient(bench.fleet.url, bench.shape)  # type: ignore[union-attr]
    try:
        q = f"floor.{MATCHED}.one"
        c.ping_pong(q, body, warmup)
        meter = CpuMeter([bench.floor_single[MATCHED].popen.pid])
        meter.start()
        s = meter.stop(Sample(MATCHED, c.ping_pong(q, body, calls)), calls)
    finally:
        c.close()
    s.note = "asyncio/asyncio; topic exchange, mandatory, TTL, func's headers, manual acks, amq.direct back"
    return s


def matched_fanout(bench: Bench, n: int, body: bytes, warmup: int, runs: int) -> Sample:
    """The bare pika fan-out with the AMQP features func uses, to as many matched servers as there are hosts."""
    queues = [f"floor.{MATCHED}.{name}" for name in bench.names[:n]]
    c = AsyncioClient(bench.fleet.url, bench.shape)  # type: ignore[union-attr]
    try:
        for run in range(warmup):
            c.fan_out(queues, body, run)
        meter = CpuMeter(p.popen.pid for p in bench.floor_fan[MATCHED])
        meter.start()
        s = meter.stop(Sample(MATCHED, [c.fan_out(queues, body, warmup + run) for run in range(runs)]), runs)
    finally:
        c.close()
    s.note = "asyncio/asyncio, the AMQP features func uses"
    return s


def cli_runs(bench: Bench, runs: int) -> tuple[Sample, Sample]:
    """`func -c overlord.conf m1 ping` as a whole process, and `python3 -c pass` for the interpreter's
    own start: what a shell loop over func pays per command."""
    func_exe = Path(sys.executable).parent / "func"
    base = [str(func_exe)] if func_exe.exists() else [sys.executable, "-m", "func_amqp.overlord.cli"]
    assert bench.fleet is not None
    cmd = [*base, "-c", str(bench.fleet.overlord_conf), SINGLE, "ping"]
    # with bytecode caching on, in a folder of the run's own, as an installed func has its .pyc files
    # (PYTHONDONTWRITEBYTECODE, where set, would make every run compile its imports again)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(ROOT),
           "PYTHONPYCACHEPREFIX": str(bench.root / "pycache")}

    def timed(args: list[str], check: Callable[[subprocess.CompletedProcess[str]], None]) -> list[int]:
        out = []
        for i in range(runs + 1):  # the first fills the page cache and the bytecode cache
            t0 = time.perf_counter_ns()
            proc = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
            dt = time.perf_counter_ns() - t0
            check(proc)
            if i:
                out.append(dt)
        return out

    def func_ok(proc: subprocess.CompletedProcess[str]) -> None:
        if proc.returncode != 0 or SINGLE not in proc.stdout:
            raise RuntimeError(f"`func {SINGLE} ping` failed ({proc.returncode}): {proc.stdout}{proc.stderr}")

    def pass_ok(proc: subprocess.CompletedProcess[str]) -> None:
        if proc.returncode != 0:
            raise RuntimeError(f"python -c pass failed: {proc.stderr}")

    return (Sample("func m1 ping", timed(cmd, func_ok)), Sample("python3 -c pass", timed([sys.executable, "-c",
                                                                                           "pass"], pass_ok)))


# -- the run ------------------------------------------------------------------------------------------
@dataclass
class Plan:
    calls: int
    xmlrpc_calls: int
    warmup: int
    runs_small: int
    runs_large: int
    cli_runs: int
    fanout: list[int]


def bare() -> None:
    """Ends this process's shared AMQP transport before a measurement that does not use it (the
    floors, XML-RPC): its console thread decodes every minion's heartbeat and the broker role's
    reports of them, and would compete for the GIL with the bare client. func's next AMQP call
    makes a new one (a warm-up then learns the schemas again)."""
    overlord_client.close_all()


def measure_single(bench: Bench, plan: Plan) -> dict[str, Sample]:
    """The one-call figures and the CLI, m1 the fleet's only minion; each floor right before its func figure."""
    body, out = b"x" * bench.sizes["request"], {}
    bare()
    out["floor one"] = floor_single(bench, body, plan.warmup, plan.calls)
    out["matched one"] = matched_single(bench, body, plan.warmup, plan.calls)
    out["func amqp"] = func_single(bench, "amqp", plan.warmup, plan.calls)
    bare()
    out["func xmlrpc"] = func_single(bench, "xmlrpc", max(5, plan.warmup // 10), plan.xmlrpc_calls)
    bare()
    out["cli"], out["pass"] = cli_runs(bench, plan.cli_runs)
    return out


def measure_fleet(bench: Bench, plan: Plan) -> dict[str, Sample]:
    """With the hosted minions up: one call again (its overlord now hears every minion's heartbeat),
    then each fan-out, each floor right before its func figure."""
    body, out = b"x" * bench.sizes["request"], {}
    bare()
    out["floor one, fleet"] = floor_single(bench, body, plan.warmup, plan.calls)
    out["func amqp, fleet"] = func_single(bench, "amqp", plan.warmup, plan.calls)
    for n in plan.fanout:
        runs = plan.runs_large if n >= 1000 else plan.runs_small
        bare()
        out[f"floor fan {n}"] = floor_fanout(bench, n, body, 2, runs)
        out[f"matched fan {n}"] = matched_fanout(bench, n, body, 2, runs)
        out[f"func fan {n}"] = func_fanout(bench, n, 2, runs)
    return out


def merge(rounds: list[dict[str, Sample]]) -> dict[str, Sample]:
    """Each figure's best round (see `--rounds`)."""
    return {k: best(r[k] for r in rounds) for k in rounds[0]}


def report(bench: Bench, plan: Plan, f: dict[str, Sample], env: dict[str, str], elapsed: float) -> None:
    o = bench.opts
    print(f"func test.ping over AMQP and XML-RPC vs bare pika: Python {platform.python_version()} "
          f"({sys.executable}); pika {pika.__version__}; {os.cpu_count()} CPUs; {platform.platform()}")
    print(f"broker: {env['broker']}; vhost {bench.fleet.vhost if bench.fleet else '?'}; {env['load']}")
    s = bench.sizes
    print(f"bodies: 'M' request {s['request']} B (+ {s['headers']} B of AMQP headers: session, MAC, request id, "
          f"deadline), 'm' reply {s['reply']} B (+ its MAC); the floor sends bodies of the same sizes, no headers")
    print(f"one call: {plan.calls} AMQP / {plan.xmlrpc_calls} XML-RPC sequential calls after {plan.warmup}; fan-out: "
          f"{plan.runs_small} runs (10, 100) / {plan.runs_large} runs (1,000) after 2; minions on {o.hosts} host "
          f"process(es), one AMQP connection each; {o.rounds} round(s), best of each figure")
    print()
    rows: list[tuple[str, str, str, float, str, bool | None]] = []

    def ratio_row(label: str, a: Sample, b: Sample, goal: float | None, stat: str = "median") -> None:
        va, vb = getattr(a, stat), getattr(b, stat)
        r = va / vb
        rows.append((label, _ms(va), _ms(vb), r, f"<={goal:g}x" if goal else "-", r <= goal if goal else None))

    ratio_row("one call, AMQP, median", f["func amqp"], f["floor one"], 1.3)
    ratio_row("one call, AMQP, p99", f["func amqp"], f["floor one"], None, "p99")
    ratio_row("one call, matched floor / floor", f["matched one"], f["floor one"], None)
    ratio_row("one call, AMQP / matched floor", f["func amqp"], f["matched one"], None)
    x, a = f["func xmlrpc"], f["func amqp"]
    speedup = x.median / a.median
    rows.append(("one call, XML-RPC / AMQP (speed-up)", _ms(x.median), _ms(a.median), speedup, ">=10x",
                 speedup >= 10))
    bound = x.median / f["floor one"].median
    rows.append(("one call, XML-RPC / floor (the bound)", _ms(x.median), _ms(f["floor one"].median), bound,
                 "-", None))
    ratio_row("CLI `func m1 ping` / `python3 -c pass`", f["cli"], f["pass"], None)
    if "func amqp, fleet" in f:
        ratio_row(f"one call, AMQP, median, {bench.total + 1:,} minions up", f["func amqp, fleet"],
                  f["floor one, fleet"], None)
    for n in plan.fanout:
        ratio_row(f"fan-out to {n:,}, median", f[f"func fan {n}"], f[f"floor fan {n}"], 1.5 if n >= 1000 else None)
        if n >= 1000 or n == plan.fanout[-1]:
            ratio_row(f"fan-out to {n:,}, matched floor / floor", f[f"matched fan {n}"], f[f"floor fan {n}"], None)
            ratio_row(f"fan-out to {n:,} / matched floor", f[f"func fan {n}"], f[f"matched fan {n}"], None)
    hdr = f"{'figure':42} {'func':>10} {'floor':>10} {'ratio':>8} {'goal':>7}  result"
    print(hdr)
    print("-" * len(hdr))
    for label, va, vb, r, goal, ok in rows:
        print(f"{label:42} {va:>10} {vb:>10} {r:7.2f}x {goal:>7}  {'' if ok is None else 'PASS' if ok else 'MISS'}")
    print()
    hdr = (f"{'path':34} {'median':>10} {'p99/max':>10} {'min':>10} {'n':>5}  {'CPU ms/op caller | callee':>26}"
           "  notes")
    print(hdr)
    print("-" * len(hdr))
    labels = {"floor one": "floor: bare ping-pong", "matched one": "matched floor: ping-pong",
              "func amqp": "func one call, AMQP",
              "func xmlrpc": "func one call, XML-RPC", "cli": "func CLI process (m1 ping)",
              "pass": "python3 -c pass", "floor one, fleet": "floor: bare ping-pong (fleet up)",
              "func amqp, fleet": "func one call, AMQP (fleet up)"}
    for n in plan.fanout:
        labels[f"floor fan {n}"] = f"floor: bare fan-out to {n:,}"
        labels[f"matched fan {n}"] = f"matched floor: fan-out to {n:,}"
        labels[f"func fan {n}"] = f"func fan-out to {n:,}"
    for key, label in labels.items():
        if key not in f:
            continue
        sm = f[key]
        note = sm.note or (f"glob expansion (Overlord()) {sm.extra['expand']:.2f} ms" if "expand" in sm.extra else "")
        cpu = f"{sm.cpu_caller:9.3f} | {sm.cpu_callee:<9.3f}" if key not in ("cli", "pass") else ""
        print(f"{label:34} {_ms(sm.median):>10} {_ms(sm.p99):>10} {_ms(min(sm.times) / 1e6):>10} {len(sm.times):5}"
              f"  {cpu:>26}  {note}")
    print()
    kind = key_kind(bench.root / "minions" / bench.names[0] / "pki" / f"{bench.names[0]}.pem") if bench.names else "-"
    print("setup: " + ", ".join(f"{k} {v:.1f} s" for k, v in bench.setup.items())
          + f"; {bench.made_keys} new minion keys ({kind}) for {bench.total} minions ({o.keygen_workers} workers)")
    for line in bench.host_lines:
        print(f"  {line}")
    print("notes:")
    print(f"- the first four rows: m1 (a funcd process) is the only minion running; the rest: with the "
          f"{bench.total:,} hosted minions up too (heartbeats every {HEARTBEAT:g} s, each decoded by the overlord, "
          "with the broker role's report of it)")
    print("- floor: bare pika, callback-driven, default exchange, no publisher confirms, auto-ack; the best of "
          "the four server/client adapter pairs (BlockingConnection, asyncio)")
    print("- matched floor: the same bare pika (asyncio both sides) doing on the wire what func's AMQP does and "
          "nothing else: requests through a topic exchange with mandatory, a per-message TTL and headers of "
          "func's sizes, a prefetch window and manual acks (one per loop turn, as funcd's), replies through "
          "amq.direct with a minion's headers; func's own cost is its ratio to this row, the protocol's is this "
          "row's to the floor")
    ca_key = key_kind(bench.fleet.ca.config.key_file) if bench.fleet else "?"
    print(f"- func: requests authenticated with the CA's key ({ca_key}): a signed handshake per minion, then "
          "HMAC-SHA256 under the session both ways; mandatory, topic exchange in, amq.direct back, manual acks; "
          "the minions check MAC, deadline, replay, ACL and write an audit line per call, the overlord checks "
          "each reply's MAC")
    print(f"- fan-out figures include `Overlord(glob)` (the glob over the CA's {bench.total + 1:,} certificates); "
          "p99/max is the max for fewer than 100 samples")
    print("- CPU per op: user+system time of the caller (this process) and of the callee processes (funcd m1, "
          "the minion hosts, or the bare servers), over the measured operations")
    print("- for reference, from the issue (this machine): real func 0.30 11.4 ms per test.ping, 109-144 ms for "
          "10 minions sequentially; Salt 3008 103 ms for 1 minion, 421 ms for 10")
    print(f"- total run time {elapsed:.0f} s")


def key_kind(path: Path) -> str:
    """What kind of key a PEM file holds ("EC secp256r1", "RSA 2048")."""
    try:
        key = load_private_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        return f"unreadable: {exc}"
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    return type(key).__name__


def _ms(v: float) -> str:
    return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"


# -- profiling ------------------------------------------------------------------------------------------
SPY_RATE = 400  # samples per second


def _cpu_of(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CpuMeter.TICK, int(fields[12]) / CpuMeter.TICK


@contextlib.contextmanager
def sampled(py_spy: str, pids: dict[str, int], out_dir: Path, phase: str, ops: list[int]) -> Any:
    """py-spy on each pid while the body runs (the body appends its operation count to `ops`), then
    each process's CPU time (user, system) per operation and where its Python time went.

    `--nonblocking`: pausing a process of 65 threads 400 times a second (py-spy's default) made a
    fan-out to 1,000 seven times slower; reading its memory while it runs perturbs it far less.

    py-spy samples only threads holding the GIL (`--gil`): on a shared 2-core machine a thread that is
    runnable but not running still looks busy to a wall-clock sampler, while at most one thread of a
    process holds the GIL, so the samples add up to the process's Python execution time (the kernel's
    share, socket writes and reads, is the system CPU time printed beside it)."""
    spies = []
    for who, pid in pids.items():
        out = out_dir / f"{phase}-{who}.txt"
        spies.append((who, pid, out, subprocess.Popen(
            [py_spy, "record", "-p", str(pid), "-f", "raw", "-o", str(out), "-r", str(SPY_RATE), "--nolineno",
             "--threads", "--gil", "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    time.sleep(1.5)  # py-spy attaches
    cpu0 = {who: _cpu_of(pid) for who, pid, _o, _s in spies}
    t0 = time.perf_counter()
    try:
        yield
    finally:
        wall = time.perf_counter() - t0
        cpu1 = {who: _cpu_of(pid) for who, pid, _o, _s in spies}
        for _w, _p, _out, sp in spies:
            sp.send_signal(signal.SIGINT)
        n = max(sum(ops), 1)
        print(f"\n### {phase}: {n} operations in {wall:.1f} s ({wall / n * 1e3:.3f} ms each)")
        for who, _pid, out, sp in spies:
            try:
                sp.wait(30)
            except subprocess.TimeoutExpired:
                sp.kill()
            user, system = (cpu1[who][i] - cpu0[who][i] for i in (0, 1))
            print(f"{who}: CPU per operation {user / n * 1e3:.3f} ms user + {system / n * 1e3:.3f} ms system")
            if out.exists():
                summarize(out, n)
            else:
                print(f"py-spy wrote no {out}: {(sp.stderr.read() if sp.stderr else b'').decode()[-300:]}")


PROJECT_FRAMES = ("(func_amqp/", "(qmf/", "(codec/", "(minion_host.py)", "(func_rpc.py)")


def summarize(path: Path, ops: int, top: int = 16) -> None:
    """Where the GIL-holding samples of one raw py-spy file fall, in ms per operation: inclusive by
    function of this project (the loop and thread frames around everything say nothing), and self
    by any function."""
    incl: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames and frames[0].startswith("thread ("):
            name = frames[0].split(": ", 1)[-1].rstrip(")")
            threads[name.rstrip("0123456789_") if name.startswith("funcd-call") else name] += n
            frames = frames[1:]
        total += n
        for fr in set(frames):
            if any(tag in fr for tag in PROJECT_FRAMES) and not fr.startswith(("<module>", "main ")):
                incl[fr] += n
        if frames:
            own[frames[-1]] += n

    def ms(c: int) -> str:
        return f"{c / SPY_RATE / ops * 1e3:7.3f} ms {c * 100 / max(total, 1):5.1f}%"

    print(f"   Python (GIL held) {ms(total).split(' ms')[0].strip()} ms per operation; by thread: "
          + ", ".join(f"{t} {c * 100 / max(total, 1):.0f}%" for t, c in threads.most_common(4)))
    for title, counter in (("inclusive, this project's functions", incl), ("self, any function", own)):
        print(f"   {title}:")
        for fr, c in counter.most_common(top):
            print(f"     {ms(c)}  {fr}")


def profile_single(bench: Bench, plan: Plan, out_dir: Path, py_spy: str) -> None:
    """Samples the overlord and funcd m1 during sequential calls (m1 the fleet's only minion)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    print()
    print(f"profiles: py-spy raw files in {out_dir}")
    bare()
    o = Overlord(SINGLE, noglobs=True, config=bench.config())
    for _ in range(200):
        o.test.ping()
    ops: list[int] = []
    with sampled(py_spy, {"overlord": os.getpid(), "funcd m1": bench.m1_pid()}, out_dir, "one-call", ops):
        n = max(plan.calls * 3, 500)
        for _ in range(n):
            o.test.ping()
        ops.append(n)


def profile_fanout(bench: Bench, plan: Plan, out_dir: Path, py_spy: str) -> None:
    """Samples the overlord and the minion hosts during the largest fan-out, run again and again."""
    out_dir.mkdir(parents=True, exist_ok=True)
    size = max(plan.fanout)
    spec, cfg = fan_glob(size, bench.total), bench.config()
    Overlord(spec, config=cfg).test.ping()
    pids = {"overlord": os.getpid(), **{f"host{i}": pid for i, pid in enumerate(bench.host_pids())}}
    ops: list[int] = []
    with sampled(py_spy, pids, out_dir, f"fanout{size}", ops):
        runs = max(plan.runs_large * 3, 10)
        for _ in range(runs):
            Overlord(spec, config=cfg).test.ping()
        ops.append(runs)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: fewer calls, fan-out to 10 and 100")
    ap.add_argument("--calls", type=int, help="sequential AMQP calls (and floor ping-pongs) measured (default 1000)")
    ap.add_argument("--xmlrpc-calls", type=int, help="sequential XML-RPC calls measured (default 200)")
    ap.add_argument("--fanout", help="fan-out sizes, powers of ten, comma-separated (default 10,100,1000)")
    ap.add_argument("--runs", type=int, help="fan-out runs measured for 10 and 100 (default 20)")
    ap.add_argument("--runs-large", type=int, help="fan-out runs measured for 1,000 and more (default 10)")
    ap.add_argument("--cli-runs", type=int, help="CLI processes timed (default 10)")
    ap.add_argument("--hosts", type=int, default=2, help="minion host processes, and bare servers of the "
                                                         "fan-out floor per adapter (default 2)")
    ap.add_argument("--minion-publish-interval", type=float, help="seconds between the hosted agents' periodic "
                    "broadcasts of their objects (default: as funcd's AmqpInterface sets it; see minion_host.py)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved repetitions; best of each figure kept")
    ap.add_argument("--keygen-workers", type=int, default=os.cpu_count() or 2, help="processes making minion keys")
    ap.add_argument("--root", help="keep the CA, keys and configs here (reused by the next run; default: a "
                                   "temporary folder, deleted)")
    ap.add_argument("--profile", metavar="DIR", help="then sample both sides with py-spy into DIR and summarize")
    ap.add_argument("--py-spy", default=None, help="the py-spy executable (default: next to python, or on PATH)")
    ap.add_argument("--serve-floor", choices=(*KINDS, MATCHED), help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--queues-from", help=argparse.SUPPRESS)
    ap.add_argument("--reply-size", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--reply-headers", default="{}", help=argparse.SUPPRESS)
    opts = ap.parse_args()

    if opts.serve_floor:
        queues = [q for q in Path(opts.queues_from).read_text().split() if q]
        reply = b"x" * opts.reply_size
        if opts.serve_floor == "blocking":
            serve_blocking(opts.url, queues, reply)
        elif opts.serve_floor == MATCHED:
            asyncio.run(serve_matched(opts.url, queues, reply, json.loads(opts.reply_headers)))
        else:
            asyncio.run(serve_asyncio(opts.url, queues, reply))
        return 0

    q = opts.quick
    fanout = [int(x) for x in (opts.fanout or ("10,100" if q else "10,100,1000")).split(",") if x.strip()]
    if any(n < 10 or str(n).rstrip("0") != "1" for n in fanout):
        ap.error("--fanout sizes must be powers of ten from 10 (each is one glob over the minion names)")
    opts.fanout = fanout
    plan = Plan(calls=opts.calls or (200 if q else 1000), xmlrpc_calls=opts.xmlrpc_calls or (50 if q else 200),
                warmup=100 if not q else 50, runs_small=opts.runs or (5 if q else 20),
                runs_large=opts.runs_large or (3 if q else 10), cli_runs=opts.cli_runs or (3 if q else 10),
                fanout=fanout)
    py_spy = opts.py_spy or next((str(c) for c in (Path(sys.executable).parent / "py-spy",) if c.exists()),
                                 shutil.which("py-spy"))
    if opts.profile and not py_spy:
        ap.error("--profile needs py-spy (--py-spy PATH)")

    started = time.perf_counter()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the cleanup below runs
    bench = Bench(opts)
    try:
        bench.start()
        assert bench.fleet is not None
        env = {"broker": server_version(bench.fleet.url), "load": f"load average before {_load()}"}
        o = Overlord(SINGLE, noglobs=True, config=bench.config())
        bench.sizes, bench.shape = request_sizes(o)
        bench.start_floors(bench.sizes["reply"])
        single = merge([measure_single(bench, plan) for _ in range(opts.rounds)])
        profiled = io.StringIO()
        if opts.profile:
            with contextlib.redirect_stdout(profiled):
                profile_single(bench, plan, Path(opts.profile), py_spy)  # type: ignore[arg-type]
        bench.start_hosts()
        fleet = merge([measure_fleet(bench, plan) for _ in range(opts.rounds)]) if bench.names else {}
        env["load"] += f", after {_load()}"
        report(bench, plan, {**single, **fleet}, env, time.perf_counter() - started)
        if opts.profile:
            print(profiled.getvalue(), end="")
            if bench.names:
                profile_fanout(bench, plan, Path(opts.profile), py_spy)  # type: ignore[arg-type]
        return 0
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
