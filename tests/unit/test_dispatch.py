"""The dispatcher and the worker runtime together, over the in-process bus and a real database.

The task kind here is a generic ``echo`` job, not RPM: the dispatch core must not care.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.db.engine import Database, migrate
from rpmyard.dispatch import kinds, queue
from rpmyard.dispatch.bus import DISPATCH_QUEUE, InProcessBus
from rpmyard.dispatch.dispatcher import Dispatcher
from rpmyard.dispatch.kinds import Outcome, TaskContext
from rpmyard.dispatch.models import Task
from rpmyard.dispatch.worker import WorkerRuntime
from tests.support.server import scratch_database

KIND = "echo"


class EchoRunner:
    """Sleeps ``seconds`` (stopping early on cancel) and answers with its payload's text."""

    kind = KIND
    version = "1"

    def __init__(self) -> None:
        self.started: list[int] = []

    def run(self, ctx: TaskContext) -> Outcome:
        self.started.append(ctx.payload["n"])
        if ctx.cancel.wait(ctx.payload.get("seconds", 0)):
            return Outcome(2, "canceled")
        return Outcome(int(ctx.payload.get("code", 0)), ctx.payload.get("text", ""))


class RecordingHooks:
    def __init__(self) -> None:
        self.states: dict[int, list[str]] = {}

    def log_path(self, session: Session, task: Task, stream: str) -> Path | None:
        return None

    def on_state(self, session: Session, task: Task, files_dir: Path) -> None:
        self.states.setdefault(task.id, []).append(task.state)


class Rig:
    def __init__(self, db: Database, tmp: Path, lease: float = 2.0, **caps: int) -> None:
        self.db = db
        self.bus = InProcessBus()
        self.hooks = RecordingHooks()
        kinds.register_server_hooks(KIND, self.hooks)
        self.dispatcher = Dispatcher(db, self.bus, tmp / "spool", lease_seconds=lease, tick=0.1, **caps)
        self.dispatcher.start()
        self.workers: list[WorkerRuntime] = []
        self.tmp = tmp

    def worker(self, name: str, *, slots: int = 1, arches: tuple[str, ...] = ("x86_64", "noarch"),
               runner: EchoRunner | None = None, heartbeat: float = 0.3) -> tuple[WorkerRuntime, EchoRunner]:
        runner = runner or EchoRunner()
        w = WorkerRuntime(name=name, bus=self.bus, frontend_url=None, runners=[runner],
                          slots=slots, arches=list(arches), heartbeat_seconds=heartbeat,
                          workroot=self.tmp / name)
        w.start()
        self.workers.append(w)
        return w, runner

    def submit(self, n: int, *, owner: str = "alice", arch: str | None = None, background: bool = False,
               **payload: object) -> int:
        with self.db.session() as s:
            task = queue.submit(s, KIND, {"n": n, **payload}, owner=owner, group=f"{owner}/p", arch=arch,
                                background=background)
            return task.id

    def task(self, task_id: int) -> Task:
        with self.db.session() as s:
            return s.get(Task, task_id)  # type: ignore[return-value]

    def wait(self, cond: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        raise AssertionError("condition not met in time")

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        self.dispatcher.stop()
        self.bus.close()


@pytest.fixture
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    caps = request.node.get_closest_marker("caps")
    with scratch_database(tmp_path) as url:
        db = Database(url)
        migrate(db.engine)
        r = Rig(db, tmp_path, **(caps.kwargs if caps else {}))
        yield r
        r.close()
        db.engine.dispose()


def test_task_runs_and_completes_with_code_and_text(rig: Rig) -> None:
    rig.worker("w1")
    ok = rig.submit(1, text="all good")
    bad = rig.submit(2, code=1, text="it broke")
    rig.wait(lambda: rig.task(ok).state == "succeeded" and rig.task(bad).state == "failed")
    assert rig.task(ok).result_text == "all good" and rig.task(ok).result_code == 0
    assert rig.task(bad).result_text == "it broke" and rig.task(bad).result_code == 1
    assert rig.hooks.states[ok] == ["running", "succeeded"]


def test_fair_share_one_owner_cannot_starve_another(rig: Rig) -> None:
    _, runner = rig.worker("w1", slots=1)
    for i in range(30):
        rig.submit(i, owner="bulk", seconds=0.05)
    started_before = len(runner.started)
    lone = rig.submit(1000, owner="single", seconds=0.05)
    rig.wait(lambda: rig.task(lone).state == "succeeded")
    # Counted from its submission: the single task starts after at most the bulk task already
    # running and one whose assignment was in flight.
    assert runner.started.index(1000) - started_before <= 2, (started_before, runner.started)


def test_background_tasks_come_after_normal_ones(rig: Rig) -> None:
    for i in range(3):
        rig.submit(i, owner="a", background=True)
    normal = rig.submit(99, owner="b")
    _, runner = rig.worker("w1", slots=1)
    rig.wait(lambda: rig.task(normal).state == "succeeded")
    assert runner.started[0] == 99


def test_task_goes_only_to_a_worker_of_its_arch(rig: Rig) -> None:
    _, x86 = rig.worker("x86", arches=("x86_64", "noarch"))
    task = rig.submit(7, arch="aarch64")
    rig.wait(lambda: "no worker" in rig.task(task).wait_reason)
    assert rig.task(task).state == "pending"
    assert "aarch64" in rig.task(task).wait_reason
    _, arm = rig.worker("arm", arches=("aarch64", "noarch"))
    rig.wait(lambda: rig.task(task).state == "succeeded")
    assert arm.started == [7] and x86.started == []


def test_expired_lease_is_requeued_to_another_worker(rig: Rig) -> None:
    # A worker that registers and takes a task, then goes silent (as if killed with -9).
    rig.bus.publish(DISPATCH_QUEUE, {"type": "hello", "worker": "ghost", "tasks": {},
                                     "inventory": {"arches": ["noarch"], "slots": 1, "kinds": {KIND: "1"}}})
    task = rig.submit(5)
    rig.wait(lambda: rig.task(task).worker == "ghost")
    _, live = rig.worker("live")
    rig.wait(lambda: rig.task(task).state == "succeeded", timeout=15)
    t = rig.task(task)
    assert t.worker == "live" and t.attempt == 2 and t.tried_hosts == ["ghost"]
    assert live.started == [5]


def test_stale_completion_is_ignored(rig: Rig) -> None:
    rig.worker("w1")
    task = rig.submit(3, seconds=1.0)
    rig.wait(lambda: rig.task(task).state == "running")
    rig.bus.publish(DISPATCH_QUEUE, {"type": "done", "task_id": task, "token": "not-the-lease", "code": 1,
                                     "text": "forged"})
    rig.wait(lambda: rig.task(task).state == "succeeded")
    assert rig.task(task).result_text != "forged"


def test_gives_up_after_max_attempts(rig: Rig) -> None:
    task = rig.submit(9)
    for n in range(3):  # three hosts each take the task and die silently
        rig.wait(lambda: rig.task(task).state == "pending", timeout=15)
        name = f"dies-{n}"
        rig.bus.publish(DISPATCH_QUEUE, {"type": "hello", "worker": name, "tasks": {},
                                         "inventory": {"arches": ["noarch"], "slots": 1, "kinds": {KIND: "1"}}})
        rig.wait(lambda name=name: rig.task(task).worker == name, timeout=15)
    rig.wait(lambda: rig.task(task).state == "failed", timeout=15)
    t = rig.task(task)
    assert "gave up after 3 attempts" in t.result_text
    assert sorted(t.tried_hosts) == ["dies-0", "dies-1", "dies-2"]


def test_cancel_reaches_a_running_task_within_a_second(rig: Rig) -> None:
    rig.worker("w1")
    task = rig.submit(4, seconds=60)
    rig.wait(lambda: rig.task(task).state == "running")
    t0 = time.monotonic()
    with rig.db.session() as s:
        queue.request_cancel(s, s.get(Task, task))
    rig.wait(lambda: rig.task(task).state == "canceled", timeout=10)
    assert time.monotonic() - t0 < 1.5


def test_pending_cancel_ends_at_once(rig: Rig) -> None:
    task = rig.submit(8)
    with rig.db.session() as s:
        assert queue.request_cancel(s, s.get(Task, task)) is True
    assert rig.task(task).state == "canceled"


def test_worker_inventory_is_recorded(rig: Rig) -> None:
    rig.worker("inv", slots=3, arches=("x86_64",))
    from rpmyard.dispatch.models import Worker

    def registered() -> bool:
        with rig.db.session() as s:
            return s.scalar(select(Worker).where(Worker.name == "inv")) is not None

    rig.wait(registered)
    with rig.db.session() as s:
        w = s.get(Worker, "inv")
        assert w is not None
        assert w.slots == 3 and w.inventory["arches"] == ["x86_64"] and w.inventory["kinds"] == {KIND: "1"}
        assert w.inventory["cpus"] >= 1 and w.inventory["memory_mb"] > 0 and "host" in w.inventory


@pytest.mark.caps(max_per_owner=1)
def test_per_owner_cap_holds_back_an_owner_and_says_why(rig: Rig) -> None:
    _, runner = rig.worker("w1", slots=3)
    first = rig.submit(1, owner="capped", seconds=1.0)
    second = rig.submit(2, owner="capped")
    other = rig.submit(3, owner="free")
    rig.wait(lambda: rig.task(other).state == "succeeded")
    assert rig.task(first).state == "running"
    assert rig.task(second).state == "pending"
    assert "per-owner cap" in rig.task(second).wait_reason
    rig.wait(lambda: rig.task(second).state == "succeeded")


@pytest.mark.caps(max_per_group=1)
def test_per_project_cap(rig: Rig) -> None:
    rig.worker("w1", slots=3)
    first = rig.submit(1, owner="o", seconds=1.0)
    second = rig.submit(2, owner="o")
    rig.wait(lambda: "per-project cap" in rig.task(second).wait_reason)
    assert rig.task(first).state in ("assigned", "running")
    rig.wait(lambda: rig.task(second).state == "succeeded")


def test_threads_do_not_leak_between_rigs() -> None:
    assert threading.active_count() < 200
