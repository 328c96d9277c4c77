"""What each AMQP feature func's requests use costs a bare pika ping-pong, one feature at a time.

    .venv/bin/python benchmarks/amqp_features.py [--calls N] [--rounds R] [--url URL]

Why: `func_rpc.py`'s goals compare func with a bare ping-pong on the default exchange with no
properties and auto-acks. func's requests cannot travel that way: QMF addresses agents through a
topic exchange and answers through `amq.direct`, every request is `mandatory` (an unroutable one
fails at once) and carries a per-message TTL (its deadline) and the session, MAC, request id and
deadline headers, and a minion acks with a prefetch window (the broker holds a flood, not the
minion). This run prices each of those on its own and all together, with no func code at all, so
that the part of func's ratio that is the protocol's (the broker's and pika's work) is known.

How: for each variant, a bare pika server process (BlockingConnection) answers on its own queue,
and this process (BlockingConnection) sends `--calls` sequential requests after a warm-up: bodies
and headers of func's sizes ('M' 72 B, 'm' 33 B, the request's four headers, the reply's agent
name and MAC). Printed per variant: the median round trip, its ratio to "bare", and the CPU time
per call of the broker (its `beam.smp` process, from /proc), the server and this client. `--rounds`
repeats every variant, interleaved, and keeps each figure's best. Figures are printed, not
asserted. Needs the broker on this machine (for its CPU figure) at `--url` (default the local one).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pika
from pika.spec import BasicProperties

REQUEST = b"x" * 72
REPLY = b"y" * 33
REQUEST_HEADERS = {"func.request_id": "a" * 32, "qmf.deadline": 1_796_281_340_651, "func.session": "b" * 44,
                   "func.mac": "c" * 44}
REPLY_HEADERS = {"qmf.agent": "m1", "func.mac": "d" * 44}
EXCHANGE = "bench.features"


@dataclass(frozen=True)
class Variant:
    topic: bool = False  # requests through a topic exchange, replies through amq.direct
    mandatory: bool = False
    ttl: bool = False  # a per-message expiration
    headers: bool = False  # func's headers (and content type, message id) both ways
    acks: bool = False  # manual acks with a prefetch window


VARIANTS = {
    "bare": Variant(),
    "+topic exchange": Variant(topic=True),
    "+mandatory": Variant(mandatory=True),
    "+per-message TTL": Variant(ttl=True),
    "+headers": Variant(headers=True),
    "+manual acks": Variant(acks=True),
    "all (func's)": Variant(True, True, True, True, True),
}


@dataclass
class Figure:
    median_ms: float
    broker_ms: float
    server_ms: float
    client_ms: float


def serve(url: str, v: Variant, queue: str, ready: Any) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    if v.topic:
        ch.exchange_declare(EXCHANGE, "topic", auto_delete=True)
    ch.queue_declare(queue, exclusive=True)
    if v.topic:
        ch.queue_bind(queue, EXCHANGE, routing_key=queue)
    if v.acks:
        ch.basic_qos(prefetch_count=256)
    reply_props = BasicProperties(content_type="amqp/binary", headers=REPLY_HEADERS) if v.headers else None

    def on_message(c: Any, m: Any, props: BasicProperties, _body: bytes) -> None:
        c.basic_publish("amq.direct" if v.topic else "", props.reply_to, REPLY, reply_props)
        if v.acks:
            c.basic_ack(m.delivery_tag, multiple=True)

    ch.basic_consume(queue, on_message, auto_ack=not v.acks)
    ready.set()
    ch.start_consuming()


def broker_pid() -> int:
    out = subprocess.run(["pgrep", "-o", "beam.smp"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, v: Variant, queue: str, server_pid: int, calls: int) -> Figure:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    reply_q = ch.queue_declare("", exclusive=True).method.queue
    if v.topic:
        ch.queue_bind(reply_q, "amq.direct", routing_key=reply_q)
    got: list[int] = []
    ch.basic_consume(reply_q, lambda *_: got.append(1), auto_ack=True)
    props = BasicProperties(reply_to=reply_q, expiration="10000" if v.ttl else None,
                            content_type="amqp/binary" if v.headers else None,
                            message_id="overlord.1" if v.headers else None,
                            headers=REQUEST_HEADERS if v.headers else None)
    exchange = EXCHANGE if v.topic else ""

    def one() -> None:
        got.clear()
        ch.basic_publish(exchange, queue, REQUEST, props, mandatory=v.mandatory)
        while not got:
            conn.process_data_events(time_limit=None)

    for _ in range(200):
        one()
    beam = broker_pid()
    b0, s0, r0 = cpu_seconds(beam), cpu_seconds(server_pid), resource.getrusage(resource.RUSAGE_SELF)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        one()
        times.append(time.perf_counter() - t0)
    b1, s1, r1 = cpu_seconds(beam), cpu_seconds(server_pid), resource.getrusage(resource.RUSAGE_SELF)
    conn.close()
    client = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return Figure(statistics.median(times) * 1e3, (b1 - b0) / calls * 1e3, (s1 - s0) / calls * 1e3,
                  client / calls * 1e3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=3000, help="sequential calls per variant (default 3000)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; best of each figure kept")
    ap.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    opts = ap.parse_args()
    ctx = multiprocessing.get_context("fork")
    figures: dict[str, list[Figure]] = {name: [] for name in VARIANTS}
    for rnd in range(opts.rounds):
        for i, (name, v) in enumerate(VARIANTS.items()):
            queue = f"bench.features.{os.getpid()}.{rnd}.{i}"
            ready = ctx.Event()
            server = ctx.Process(target=serve, args=(opts.url, v, queue, ready), daemon=True)
            server.start()
            try:
                if not ready.wait(30):
                    raise RuntimeError(f"the {name!r} server did not start")
                figures[name].append(measure(opts.url, v, queue, server.pid, opts.calls))  # type: ignore[arg-type]
            finally:
                server.terminate()
                server.join(5)
    best = {name: Figure(*(min(getattr(f, k) for f in fs) for k in ("median_ms", "broker_ms", "server_ms",
                                                                     "client_ms")))
            for name, fs in figures.items()}
    bare = best["bare"].median_ms
    print(f"bare pika ping-pong (BlockingConnection both sides), {opts.calls} calls per variant, "
          f"{opts.rounds} round(s), best of each figure; CPU in ms per call")
    print(f"{'variant':18} {'median':>9} {'ratio':>7} {'broker CPU':>11} {'server CPU':>11} {'client CPU':>11}")
    for name, f in best.items():
        print(f"{name:18} {f.median_ms:7.3f}ms {f.median_ms / bare:6.2f}x {f.broker_ms:11.3f} {f.server_ms:11.3f} "
              f"{f.client_ms:11.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
