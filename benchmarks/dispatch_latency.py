"""Dispatch latency: a task committed to the task starting on an idle worker, median and p99.

Embedded (SQLite + in-process bus) and distributed (PostgreSQL + RabbitMQ on 127.0.0.1). The
task kind is a no-op, so this measures the dispatcher, the bus and the worker runtime only.
Copr polls for work every 5-30 s, Koji every 15-60 s.

    .venv/bin/python -m benchmarks.dispatch_latency [--tasks 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from rpmyard.db.engine import Database, migrate
from rpmyard.dispatch import kinds, queue
from rpmyard.dispatch.bus import make_bus
from rpmyard.dispatch.dispatcher import Dispatcher
from rpmyard.dispatch.kinds import Outcome, TaskContext
from rpmyard.dispatch.worker import WorkerRuntime
from tests.support.rabbit import rabbit_vhost
from tests.support.server import scratch_database


class Noop:
    kind = "noop"
    version = "1"

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.event = threading.Event()

    def run(self, ctx: TaskContext) -> Outcome:
        self.started[ctx.task_id] = time.perf_counter()
        self.event.set()
        return Outcome(0)


class NoHooks:
    def log_path(self, *_: object) -> None:
        return None

    def on_state(self, *_: object) -> None:
        return None


def measure(db_url: str, broker: str, tasks: int, tmp: Path) -> list[float]:
    db = Database(db_url)
    migrate(db.engine)
    kinds.register_server_hooks("noop", NoHooks())
    bus = make_bus(broker)
    dispatcher = Dispatcher(db, bus, tmp / "spool", lease_seconds=20)
    dispatcher.start()
    runner = Noop()
    # The in-process bus lives in one process; on RabbitMQ the worker has its own connections.
    worker = WorkerRuntime(name="bench", bus=bus if broker == "memory://" else make_bus(broker),
                           frontend_url=None, runners=[runner],
                           slots=1, arches=["noarch"], heartbeat_seconds=2, workroot=tmp / "w")
    worker.start()
    dispatcher.is_leader.wait(10)
    time.sleep(1.0)  # registration
    out = []
    for i in range(tasks + 5):
        runner.event.clear()
        t0 = time.perf_counter()
        with db.session() as s:
            task_id = queue.submit(s, "noop", {}, owner=f"o{i % 3}", group="g", arch=None).id
        if not runner.event.wait(10):
            raise RuntimeError("task did not start")
        if i >= 5:  # warm-up
            out.append(runner.started[task_id] - t0)
        time.sleep(0.02)
    worker.stop()
    dispatcher.stop()
    db.engine.dispose()
    return out


def report(name: str, xs: list[float], target_ms: float) -> None:
    xs = sorted(xs)
    p99 = xs[min(len(xs) - 1, int(len(xs) * 0.99))]
    print(f"{name:38} median {statistics.median(xs) * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms   "
          f"(target median < {target_ms:.0f} ms; n={len(xs)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=200)
    args = ap.parse_args()
    import logging
    import os

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "e").mkdir()
        embedded = measure(f"sqlite:///{tmp / 'e' / 'db.sqlite'}", "memory://", args.tasks, tmp / "e")
        os.environ["RPMYARD_TEST_DB"] = "postgresql"
        (tmp / "d").mkdir()
        with scratch_database(tmp / "d") as pg, rabbit_vhost() as broker:
            distributed = measure(pg, broker, args.tasks, tmp / "d")
    report("embedded (SQLite, in-process bus)", embedded, 50)
    report("distributed (PostgreSQL, RabbitMQ)", distributed, 250)


if __name__ == "__main__":
    main()
