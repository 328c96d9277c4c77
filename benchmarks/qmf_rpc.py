"""QMF method-call round trip (console → agent → console) against a bare pika ping-pong, in one run.

    .venv/bin/python benchmarks/qmf_rpc.py [--quick] [--calls N] [--seconds S] [--inflight N] [--size N] [--rounds R]

Why: the transport was built on pika's asyncio adapter so that a QMF call costs little more than the
AMQP round trip under it. The goal (from the issue): the median sequential round trip at most 1.25x
the floor's, and the throughput with 100 calls in flight at least 0.8x the floor's.

How, on the local RabbitMQ (a fresh vhost of its own, deleted at the end, so no other queue or binding
is in the way; other work on the machine is, so the load average is printed):
- the floor: a bare pika server in a process of its own (as the agent is) consumes a queue and
  publishes each body back to the message's `reply_to` with its correlation id; a bare pika client
  in this process sends bodies of the QMF request's size (the server answers with the QMF reply's
  size). Both servers (BlockingConnection, asyncio adapter) are tried with both clients; each of the
  floor's figures is the best of the four (the table says which pair gave it). The clients run
  callback-driven: no futures, no coroutines, no publisher confirms, auto-ack on both sides.
- QMF: the broker role and one agent (`examples/qmf_agent.py --fast`: an echo handler doing no more
  than the bare server) as processes of their own; here an asyncio `qmf.console.Console` finds the
  agent, gets its `thing` object alpha and awaits `console.call(alpha, "echo", "x" * size)`.
- each side: a warm-up, then `--calls` sequential round trips (median, p99), then a warm-up and
  `--seconds` with `--inflight` calls in flight (calls completed in that window per second).
- CPU time per call of the client (this process) and of the server (the agent for QMF) is printed
  beside the times: unlike them it hardly moves when other work shares the machine.
- for the analysis only (no goal): a "matched" floor, the asyncio pair with what QMF asks of AMQP
  (publisher confirms and `mandatory` on the client, a topic exchange in and `amq.direct` back,
  manual acks with prefetch 256 and a channel in confirm mode on the server, as `qmf.transport`
  opens every channel, the same property fields and headers), which separates the cost of those
  AMQP features (in the broker too) from the cost of the qmf and codec Python code.

Needs `rabbitmqctl` (for the vhost) unless `--vhost` names one that exists. `--quick` is a smoke run
(300 calls, 3 s). `--rounds R` measures every path R times, one after the other, and keeps the best
of each figure: on a shared machine the way to see through other load. Figures are printed, not
asserted; the exit code is 0 unless something failed. Every process started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pika  # noqa: E402 - the repo root must be on the path first
from pika.adapters.asyncio_connection import AsyncioConnection  # noqa: E402
from pika.spec import BasicProperties  # noqa: E402

from codec import MethodRequest, MethodResponse, ObjectId, encode  # noqa: E402

AGENT_SCRIPT = ROOT / "examples" / "qmf_agent.py"
AGENT_NAME = "bench1"
FLOOR_QUEUE = "bench.floor.{impl}"
MATCHED_EXCHANGE = "bench.rpc"
IMPLS = ("blocking", "asyncio")


# -- figures ----------------------------------------------------------------------------------------
@dataclass
class Figures:
    """What one client measured: sequential latencies (ns) and the in-flight throughput."""

    name: str
    latencies: list[int]
    calls_per_s: float
    errors: int = 0
    note: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # µs of CPU per call: seq/pump × client/server

    @property
    def median_us(self) -> float:
        return statistics.median(self.latencies) / 1000

    @property
    def p99_us(self) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[98] / 1000


class Driver:
    """The request/reply state machine of the bare clients: sequential, or `n` in flight.

    `send()` publishes one request; the transport calls `on_reply()` for each reply. Sequential:
    the next request goes out from the reply's callback, the latency is taken around it. In
    flight: every reply that comes back before the end sends the next request at once."""

    def __init__(self, send: Callable[[], None], finished: Callable[[], None] = lambda: None) -> None:
        self.send = send
        self.finished = finished
        self.done = True
        self.mode = "seq"
        self.left = 0
        self.t0 = 0
        self.latencies: list[int] = []
        self.inflight = 0
        self.end = 0
        self.completed = 0

    def start_seq(self, n: int) -> None:
        self.mode, self.left, self.latencies, self.done = "seq", n, [], False
        self.t0 = time.perf_counter_ns()
        self.send()

    def start_pump(self, n: int, seconds: float) -> None:
        self.mode, self.completed, self.done = "pump", 0, False
        self.end = time.perf_counter_ns() + int(seconds * 1e9)
        self.inflight = n
        for _ in range(n):
            self.send()

    def on_reply(self) -> None:
        now = time.perf_counter_ns()
        if self.mode == "seq":
            self.latencies.append(now - self.t0)
            self.left -= 1
            if self.left > 0:
                self.t0 = time.perf_counter_ns()
                self.send()
            else:
                self.done = True
                self.finished()
            return
        if now <= self.end:
            self.completed += 1
            self.send()
            return
        self.inflight -= 1
        if self.inflight == 0:
            self.done = True
            self.finished()


@dataclass
class Plan:
    """How much of each measurement to do."""

    warmup_calls: int
    calls: int
    warmup_seconds: float
    seconds: float
    inflight: int


class CpuMeter:
    """CPU time per call of this process and of the server process, between `start` and `stop`.

    Other work on the machine moves it much less than it moves the wall-clock figures, so it tells
    where a gap comes from even on a busy machine."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.c0 = self.s0 = 0.0

    def _server(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.TICK  # utime, stime (fields 14, 15)

    def start(self) -> None:
        self.c0, self.s0 = time.process_time(), self._server()

    def stop(self, into: dict[str, float], phase: str, calls: int) -> None:
        into[f"{phase} client"] = (time.process_time() - self.c0) / calls * 1e6
        into[f"{phase} server"] = (self._server() - self.s0) / calls * 1e6


# -- pika on asyncio, as awaitables ---------------------------------------------------------------------
class AioLink:
    """One AsyncioConnection and one channel, opened and closed as awaitables."""

    def __init__(self) -> None:
        self.conn: AsyncioConnection | None = None
        self.ch: Any = None
        self.closed: asyncio.Future[None] | None = None

    async def open(self, url: str) -> AioLink:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()
        self.closed = loop.create_future()

        def on_open(_c: Any) -> None:
            if not opened.done():
                opened.set_result(None)

        def on_error(_c: Any, exc: BaseException) -> None:
            if not opened.done():
                opened.set_exception(RuntimeError(f"cannot connect to {url}: {exc!r}"))

        def on_close(_c: Any, exc: BaseException) -> None:
            assert self.closed is not None
            if not self.closed.done():
                self.closed.set_result(None)
            on_error(_c, exc)

        self.conn = AsyncioConnection(pika.URLParameters(url), on_open, on_error, on_close, custom_ioloop=loop)
        await asyncio.wait_for(opened, 10)
        self.ch = await self.rpc(lambda cb: self.conn.channel(on_open_callback=cb))  # type: ignore[union-attr]
        return self

    async def rpc(self, start: Callable[[Callable[[Any], None]], None]) -> Any:
        """Runs one pika operation that reports through a callback and returns what it gave."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        start(lambda value: None if fut.done() else fut.set_result(value))
        return await asyncio.wait_for(fut, 10)

    async def close(self) -> None:
        if self.conn is not None and not (self.conn.is_closed or self.conn.is_closing):
            self.conn.close()
            assert self.closed is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), 5)


# -- the floor's server (a child process: `--serve-floor IMPL`) ------------------------------------------
def reply_body(body: bytes, size: int) -> bytes:
    return body[:size] if len(body) >= size else body + bytes(size - len(body))


def serve_blocking(url: str, queue: str, reply_size: int) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.queue_declare(queue, exclusive=True)

    def on_message(c: Any, _method: Any, props: BasicProperties, body: bytes) -> None:
        c.basic_publish("", props.reply_to, reply_body(body, reply_size),
                        BasicProperties(correlation_id=props.correlation_id))

    ch.basic_consume(queue, on_message, auto_ack=True)
    print("floor-server ready", flush=True)
    ch.start_consuming()


async def serve_asyncio(url: str, queue: str, reply_size: int, matched: bool) -> None:
    link = await AioLink().open(url)
    ch = link.ch
    await link.rpc(lambda cb: ch.queue_declare(queue, exclusive=True, callback=cb))
    if matched:  # what the agent asks of AMQP: a topic exchange in, amq.direct back, manual acks, confirm mode
        await link.rpc(lambda cb: ch.confirm_delivery(lambda _frame: None, callback=cb))
        await link.rpc(lambda cb: ch.exchange_declare(MATCHED_EXCHANGE, exchange_type="topic", callback=cb))
        await link.rpc(lambda cb: ch.queue_bind(queue, MATCHED_EXCHANGE, routing_key=queue, callback=cb))
        await link.rpc(lambda cb: ch.basic_qos(prefetch_count=256, callback=cb))
        headers = {"qmf.agent": AGENT_NAME}

        def on_message(c: Any, method: Any, props: BasicProperties, body: bytes) -> None:
            c.basic_publish("amq.direct", props.reply_to, reply_body(body, reply_size),
                            BasicProperties(content_type="x-application/qmf", correlation_id=props.correlation_id,
                                            headers=headers))
            c.basic_ack(method.delivery_tag)
    else:
        def on_message(c: Any, method: Any, props: BasicProperties, body: bytes) -> None:
            c.basic_publish("", props.reply_to, reply_body(body, reply_size),
                            BasicProperties(correlation_id=props.correlation_id))

    await link.rpc(lambda cb: ch.basic_consume(queue, on_message, auto_ack=not matched, callback=cb))
    print("floor-server ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await link.close()


# -- the floor's clients ------------------------------------------------------------------------------------
def floor_blocking(url: str, queue: str, body: bytes, plan: Plan, meter: CpuMeter) -> Figures:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ch = conn.channel()
        reply_q = ch.queue_declare("", exclusive=True).method.queue
        ids = iter(range(1, 1 << 62))
        expected = [""]

        def send() -> None:
            cid = str(next(ids))
            expected[0] = cid
            ch.basic_publish("", queue, body, BasicProperties(reply_to=reply_q, correlation_id=cid))

        driver = Driver(send)
        errors = 0

        def on_reply(_c: Any, _m: Any, props: BasicProperties, _body: bytes) -> None:
            nonlocal errors
            if driver.mode == "seq" and props.correlation_id != expected[0]:
                errors += 1
            driver.on_reply()

        ch.basic_consume(reply_q, on_reply, auto_ack=True)

        def run() -> None:
            while not driver.done:
                conn.process_data_events(time_limit=None)

        cpu: dict[str, float] = {}
        driver.start_seq(plan.warmup_calls)
        run()
        meter.start()
        driver.start_seq(plan.calls)
        run()
        meter.stop(cpu, "seq", plan.calls)
        latencies = driver.latencies
        driver.start_pump(plan.inflight, plan.warmup_seconds)
        run()
        meter.start()
        driver.start_pump(plan.inflight, plan.seconds)
        run()
        meter.stop(cpu, "pump", driver.completed + plan.inflight)
        return Figures("", latencies, driver.completed / plan.seconds, errors, cpu=cpu)
    finally:
        with contextlib.suppress(Exception):
            conn.close()


async def floor_asyncio(url: str, queue: str, body: bytes, plan: Plan, meter: CpuMeter,
                        matched: bool = False) -> Figures:
    """The asyncio adapter's client; `matched` adds what QMF asks of AMQP (see the docstring)."""
    link = await AioLink().open(url)
    try:
        ch = link.ch
        frame = await link.rpc(lambda cb: ch.queue_declare("", exclusive=True, callback=cb))
        reply_q = frame.method.queue
        ids = iter(range(1, 1 << 62))
        expected = [""]
        errors = 0
        loop = asyncio.get_running_loop()
        waiter: list[asyncio.Future[None]] = []

        def finished() -> None:
            if waiter and not waiter[0].done():
                waiter[0].set_result(None)

        if matched:
            await link.rpc(lambda cb: ch.queue_bind(reply_q, "amq.direct", routing_key=reply_q, callback=cb))
            unconfirmed: set[int] = set()
            tags = iter(range(1, 1 << 62))

            def on_confirm(f: Any) -> None:
                nonlocal errors
                m = f.method
                if m.NAME != "Basic.Ack":
                    errors += 1
                if m.multiple:
                    unconfirmed.difference_update([t for t in unconfirmed if t <= m.delivery_tag])
                else:
                    unconfirmed.discard(m.delivery_tag)

            await link.rpc(lambda cb: ch.confirm_delivery(on_confirm, callback=cb))

            def send() -> None:
                cid = str(next(ids))
                expected[0] = cid
                props = BasicProperties(content_type="x-application/qmf", reply_to=reply_q, correlation_id=cid,
                                        message_id=f"bench.{cid}", expiration="10000",
                                        headers={"qmf.deadline": int(time.time() * 1000 + 10_000)})
                ch.basic_publish(MATCHED_EXCHANGE, queue, body, props, mandatory=True)
                unconfirmed.add(next(tags))
        else:
            def send() -> None:
                cid = str(next(ids))
                expected[0] = cid
                ch.basic_publish("", queue, body, BasicProperties(reply_to=reply_q, correlation_id=cid))

        driver = Driver(send, finished)

        def on_reply(_c: Any, _m: Any, props: BasicProperties, _body: bytes) -> None:
            nonlocal errors
            if driver.mode == "seq" and props.correlation_id != expected[0]:
                errors += 1
            driver.on_reply()

        await link.rpc(lambda cb: ch.basic_consume(reply_q, on_reply, auto_ack=True, callback=cb))

        async def run(start: Callable[[], None]) -> None:
            waiter[:] = [loop.create_future()]
            start()
            await waiter[0]

        cpu: dict[str, float] = {}
        await run(lambda: driver.start_seq(plan.warmup_calls))
        meter.start()
        await run(lambda: driver.start_seq(plan.calls))
        meter.stop(cpu, "seq", plan.calls)
        latencies = driver.latencies
        await run(lambda: driver.start_pump(plan.inflight, plan.warmup_seconds))
        meter.start()
        await run(lambda: driver.start_pump(plan.inflight, plan.seconds))
        meter.stop(cpu, "pump", driver.completed + plan.inflight)
        return Figures("", latencies, driver.completed / plan.seconds, errors, cpu=cpu)
    finally:
        await link.close()


# -- QMF -------------------------------------------------------------------------------------------------
async def qmf_console(url: str, text: str, plan: Plan, request_size: int, meter: CpuMeter) -> Figures:
    from qmf.console import Console

    console = Console(url, name=f"bench-{uuid.uuid4().hex[:8]}")
    await console.start(timeout=15)
    try:
        # Known from the broker role's list is enough: calls do not look at `alive`, which a late
        # heartbeat on a busy machine (or a heartbeat that cannot be sent) would turn off.
        deadline = time.monotonic() + 15
        while AGENT_NAME not in console.agents:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broker role does not list agent {AGENT_NAME!r}")
            with contextlib.suppress(Exception):
                await console.refresh_agents(timeout=2)
            await asyncio.sleep(0.1)
        objs = await console.get_objects(AGENT_NAME, class_name="thing")
        alpha = next(o for o in objs if o.properties.get("name") == "alpha")
        real = len(encode(MethodRequest(seq=1, object_id=alpha.object_id, schema=alpha.schema, method="echo",
                                        args={"text": text})))
        if real != request_size:
            raise RuntimeError(f"the QMF request is {real} bytes, the floor sent {request_size}")
        errors = 0

        async def one() -> None:
            nonlocal errors
            r = await console.call(alpha, "echo", text)
            if r.get("reply") != text:
                errors += 1

        for _ in range(plan.warmup_calls):
            await one()
        cpu: dict[str, float] = {}
        latencies = []
        clock = time.perf_counter_ns
        meter.start()
        for _ in range(plan.calls):
            t0 = clock()
            await one()
            latencies.append(clock() - t0)
        meter.stop(cpu, "seq", plan.calls)

        async def pump(seconds: float) -> int:
            end = clock() + int(seconds * 1e9)
            done = 0

            async def worker() -> None:
                nonlocal done
                while clock() < end:
                    await one()
                    if clock() <= end:
                        done += 1

            await asyncio.gather(*(worker() for _ in range(plan.inflight)))
            return done

        await pump(plan.warmup_seconds)
        meter.start()
        completed = await pump(plan.seconds)
        meter.stop(cpu, "pump", completed + plan.inflight)
        c = console.counters
        note = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if v)
        return Figures("", latencies, completed / plan.seconds, errors, note, cpu)
    finally:
        await console.close()


def qmf_sizes(text: str) -> tuple[int, int]:
    """Bytes of the 'M' request and of the 'm' reply of an echo of `text`, from the example's schema."""
    spec = importlib.util.spec_from_file_location("qmf_agent_example", AGENT_SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    thing = mod.THING
    oid = ObjectId.make(sequence=0, broker_bank=1, agent_bank=10, object=1)
    req = encode(MethodRequest(seq=1, object_id=oid, schema=thing, method="echo", args={"text": text}))
    rep = encode(MethodResponse(seq=1, method=thing.method("echo"), out_args={"reply": text}))
    return len(req), len(rep)


# -- processes and the vhost -------------------------------------------------------------------------------
class Proc:
    """A child process whose output is read line by line, so that its ready line can be awaited."""

    def __init__(self, args: list[str], name: str) -> None:
        self.name = name
        self.popen = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
        assert self.popen.stdout is not None
        self.out: IO[str] = self.popen.stdout
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.out:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.popen.poll() is not None:
                    break
                self.cond.wait(min(left, 0.2))
        raise RuntimeError(f"{self.name} did not print {prefix!r} within {timeout:g} s (exit code "
                           f"{self.popen.poll()}); it printed:\n" + "\n".join(self.lines[-40:]))

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def rabbitmqctl(*args: str) -> None:
    proc = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {(proc.stderr or proc.stdout).strip()[-500:]}")


def server_version(url: str) -> str:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        props = conn._impl.server_properties or {}
    finally:
        conn.close()

    def s(key: str) -> str:
        v = props.get(key, "?")
        return v.decode() if isinstance(v, bytes) else str(v)

    return f"{s('product')} {s('version')} ({s('platform')})"


# -- the run ---------------------------------------------------------------------------------------------
def start_processes(url: str, reply_size: int, state: Path, procs: list[Proc]) -> dict[str, int]:
    """The floor's three servers, the broker role, then the agent, all idle until measured; their pids."""
    me = str(Path(__file__).resolve())
    waits = []
    for impl, extra in (("blocking", []), ("asyncio", []), ("matched", ["--matched"])):
        server = "blocking" if impl == "blocking" else "asyncio"
        proc = Proc([sys.executable, me, "--serve-floor", server, *extra, "--url", url, "--queue",
                     FLOOR_QUEUE.format(impl=impl), "--reply-size", str(reply_size)], f"floor server ({impl})")
        procs.append(proc)
        waits.append((proc, "floor-server ready"))
    role = Proc([sys.executable, "-m", "qmf.broker_role", "--url", url, "--state-dir", str(state / "broker-role")],
                "qmf-broker")
    procs.append(role)
    role.wait_for("qmf-broker ready")
    agent = Proc([sys.executable, str(AGENT_SCRIPT), "--name", AGENT_NAME, "--url", url, "--fast", "--heartbeat",
                  "5", "--state-dir", str(state / "agents")], f"agent {AGENT_NAME}")
    procs.append(agent)
    waits.append((agent, "ready "))
    for proc, line in waits:
        proc.wait_for(line)
    return {"blocking": procs[0].popen.pid, "asyncio": procs[1].popen.pid, "matched": procs[2].popen.pid,
            "qmf": agent.popen.pid}


def measure_round(url: str, text: str, request_size: int, plan: Plan, pids: dict[str, int]) -> list[Figures]:
    """One pass over every path: the four floor pairs, the matched floor, QMF."""
    body = b"x" * request_size
    out = []
    for server in IMPLS:
        queue = FLOOR_QUEUE.format(impl=server)
        for client in IMPLS:
            meter = CpuMeter(pids[server])
            if client == "blocking":
                fig = floor_blocking(url, queue, body, plan, meter)
            else:
                fig = asyncio.run(floor_asyncio(url, queue, body, plan, meter))
            fig.name = f"{server}/{client}"
            out.append(fig)
    fig = asyncio.run(floor_asyncio(url, FLOOR_QUEUE.format(impl="matched"), body, plan, CpuMeter(pids["matched"]),
                                    matched=True))
    fig.name = "matched"
    out.append(fig)
    fig = asyncio.run(qmf_console(url, text, plan, request_size, CpuMeter(pids["qmf"])))
    fig.name = "qmf"
    out.append(fig)
    return out


def best_of(rounds: list[list[Figures]]) -> dict[str, Figures]:
    """Per path, the best of each figure over the rounds (the lowest latencies, the highest rate)."""
    best: dict[str, Figures] = {}
    for figs in rounds:
        for f in figs:
            b = best.get(f.name)
            if b is None:
                best[f.name] = Figures(f.name, f.latencies, f.calls_per_s, f.errors, f.note, dict(f.cpu))
                continue
            if f.median_us < b.median_us:
                b.latencies = f.latencies
            b.calls_per_s = max(b.calls_per_s, f.calls_per_s)
            b.errors += f.errors
            b.cpu = {k: min(v, f.cpu.get(k, v)) for k, v in b.cpu.items()}
    return best


def report(opts: argparse.Namespace, plan: Plan, env: dict[str, str], floors: dict[str, Figures],
           elapsed: float) -> None:
    qmf = floors["qmf"]
    print(f"QMF method-call round trip vs bare pika: Python {platform.python_version()} "
          f"({platform.python_implementation()}, {sys.executable}); pika {pika.__version__}")
    print(f"broker: {env['broker']} at {env['where']}, vhost {env['vhost']}; {os.cpu_count()} CPUs; "
          f"{platform.platform()}")
    print(f"bodies: request {env['request']} B ('M' echo of {opts.size} chars), reply {env['reply']} B ('m'); "
          f"sequential: {plan.calls} calls after {plan.warmup_calls}; throughput: {plan.inflight} in flight "
          f"for {plan.seconds:g} s after {plan.warmup_seconds:g} s; "
          f"{opts.rounds} round{'s' * (opts.rounds > 1)}{' (best of each figure)' if opts.rounds > 1 else ''}")
    print(f"machine {env['load']} (other work on it skews every path alike only if it is steady)")
    print()
    print(f"{'':34} {'':10} {'':10} {'':10}  {'CPU µs per call (client | server)':^35}")
    hdr = (f"{'path (server/client)':34} {'median µs':>10} {'p99 µs':>10} {'calls/s':>10}  "
           f"{'sequential':^17} {'in flight':^17}  notes")
    print(hdr)
    print("-" * len(hdr))

    def row(label: str, f: Figures) -> None:
        notes = [x for x in (f"{f.errors} wrong replies" if f.errors else "", f.note) if x]
        c = f.cpu
        print(f"{label:34} {f.median_us:10.1f} {f.p99_us:10.1f} {f.calls_per_s:10.0f}  "
              f"{c['seq client']:7.0f} | {c['seq server']:<7.0f} {c['pump client']:7.0f} | {c['pump server']:<7.0f}  "
              f"{'; '.join(notes)}")

    for name in (f"{s}/{c}" for s in IMPLS for c in IMPLS):
        row(f"floor {name}", floors[name])
    row("floor matched asyncio/asyncio (*)", floors["matched"])
    row("QMF console → agent → console", qmf)
    print()
    plain = [floors[f"{s}/{c}"] for s in IMPLS for c in IMPLS]
    lat = min(plain, key=lambda f: f.median_us)
    tail = min(plain, key=lambda f: f.p99_us)
    thr = max(plain, key=lambda f: f.calls_per_s)
    r_med = qmf.median_us / lat.median_us
    r_p99 = qmf.p99_us / tail.p99_us
    r_thr = qmf.calls_per_s / thr.calls_per_s
    m = floors["matched"]
    print(f"floor: median {lat.median_us:.1f} µs ({lat.name}), p99 {tail.p99_us:.1f} µs ({tail.name}), "
          f"{thr.calls_per_s:.0f} calls/s ({thr.name})  [server/client]")
    hdr2 = f"{'ratio':34} {'QMF/floor':>10} {'goal':>8}  result   {'QMF/matched (*)':>16}"
    print(hdr2)
    print("-" * len(hdr2))
    print(f"{'median round trip':34} {r_med:9.2f}x {'<=1.25x':>8}  {'PASS' if r_med <= 1.25 else 'MISS':7}  "
          f"{qmf.median_us / m.median_us:15.2f}x")
    print(f"{'p99 round trip':34} {r_p99:9.2f}x {'-':>8}  {'':7}  {qmf.p99_us / m.p99_us:15.2f}x")
    print(f"{'throughput, calls/s':34} {r_thr:9.2f}x {'>=0.8x':>8}  {'PASS' if r_thr >= 0.8 else 'MISS':7}  "
          f"{qmf.calls_per_s / m.calls_per_s:15.2f}x")

    def cpu(f: Figures, phase: str) -> float:
        return f.cpu[f"{phase} client"] + f.cpu[f"{phase} server"]

    for label, phase in (("CPU per call, sequential (c+s)", "seq"), ("CPU per call, in flight (c+s)", "pump")):
        base = min(cpu(f, phase) for f in plain)
        print(f"{label:34} {cpu(qmf, phase) / base:9.2f}x {'-':>8}  {'':7}  {cpu(qmf, phase) / cpu(m, phase):15.2f}x")
    print()
    print("notes:")
    print("- floor: bare pika, callback-driven, default exchange, no confirms, auto-ack; its server is a process of "
          "its own, as the agent is; each floor figure is the best of the four server/client pairs (named)")
    print("- (*) matched: the asyncio pair with publisher confirms + mandatory, a topic exchange in and amq.direct "
          "back, manual acks (prefetch 256), confirm mode on the server's channel too, QMF's property fields and "
          "headers: no goal, it shows how much of the gap is AMQP features rather than Python code")
    print("- QMF: `await console.call(alpha, 'echo', text)` in an asyncio Console; the agent is "
          "`examples/qmf_agent.py --fast`, the broker role runs beside it")
    print(f"- CPU per call: user+system time of this process (client) and of the server's (the agent for QMF) "
          f"over the measured calls, the server's from /proc in {1000 / CpuMeter.TICK:g} ms ticks; other load "
          f"moves it less than it moves the times; the CPU ratios compare with the floor pair that used least")
    print(f"- total run time {elapsed:.1f} s")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: 300 calls, 3 s of throughput")
    ap.add_argument("--calls", type=int, default=None, help="sequential calls measured (default 2000)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds of throughput measured (default 10)")
    ap.add_argument("--inflight", type=int, default=100, help="calls in flight for the throughput (default 100)")
    ap.add_argument("--size", type=int, default=100, help="characters of the echo argument (default 100)")
    ap.add_argument("--rounds", type=int, default=1, help="passes over every path; the best of each figure is "
                                                            "kept (default 1)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5672)
    ap.add_argument("--user", default="guest")
    ap.add_argument("--password", default="guest")
    ap.add_argument("--vhost", default=None, help="use this existing vhost (default: a fresh one, deleted after)")
    ap.add_argument("--serve-floor", choices=IMPLS, help=argparse.SUPPRESS)
    ap.add_argument("--matched", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--queue", help=argparse.SUPPRESS)
    ap.add_argument("--reply-size", type=int, default=0, help=argparse.SUPPRESS)
    opts = ap.parse_args()

    if opts.serve_floor == "blocking":
        serve_blocking(opts.url, opts.queue, opts.reply_size)
        return 0
    if opts.serve_floor == "asyncio":
        asyncio.run(serve_asyncio(opts.url, opts.queue, opts.reply_size, opts.matched))
        return 0

    calls = opts.calls or (300 if opts.quick else 2000)
    seconds = opts.seconds or (3.0 if opts.quick else 10.0)
    plan = Plan(warmup_calls=max(50, calls // 10), calls=calls, warmup_seconds=min(1.0, seconds / 5),
                seconds=seconds, inflight=opts.inflight)
    text = "x" * opts.size
    request_size, reply_size = qmf_sizes(text)
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the cleanup below runs

    vhost = opts.vhost or f"bench-qmf-rpc-{uuid.uuid4().hex[:8]}"
    made_vhost = False
    procs: list[Proc] = []
    try:
        if opts.vhost is None:
            rabbitmqctl("add_vhost", vhost)
            made_vhost = True
            rabbitmqctl("set_permissions", "-p", vhost, opts.user, ".*", ".*", ".*")
        url = f"amqp://{quote(opts.user, safe='')}:{quote(opts.password, safe='')}@{opts.host}:{opts.port}/" \
              f"{quote(vhost, safe='')}"
        env = {"broker": server_version(url), "where": f"{opts.host}:{opts.port}", "vhost": vhost,
               "request": str(request_size), "reply": str(reply_size)}
        env["load"] = f"load average before {_load()}"
        with tempfile.TemporaryDirectory(prefix="qmf-rpc-bench-") as tmp:
            pids = start_processes(url, reply_size, Path(tmp), procs)
            rounds = [measure_round(url, text, request_size, plan, pids) for _ in range(opts.rounds)]
            for p in procs:
                p.stop()
        env["load"] += f", after {_load()}"
        results = best_of(rounds)
        report(opts, plan, env, results, time.perf_counter() - started)
        return 0
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                p.stop()
        if made_vhost:
            with contextlib.suppress(Exception):
                rabbitmqctl("delete_vhost", vhost)


if __name__ == "__main__":
    sys.exit(main())
