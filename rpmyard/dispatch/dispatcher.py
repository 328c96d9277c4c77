"""The dispatcher: matches pending tasks to workers fairly, keeps leases, relays cancels.

It runs a short loop (woken by commits and by worker messages, and every ``tick`` anyway) that
works only from the database, so a restart resumes where it was. Fair share: among the tasks a
worker can run, the next one belongs to the owner with the fewest tasks running and, among those,
the one served least recently (round-robin), then the oldest task; background tasks come after
all normal ones. Counting running tasks alone is not enough: with one free slot both owners are
at zero between builds, and the oldest (bulk) task would win every time.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rpmyard.db.engine import Database
from rpmyard.dispatch import kinds
from rpmyard.dispatch.bus import DISPATCH_QUEUE, Bus, Message, worker_queue
from rpmyard.dispatch.leader import Leadership
from rpmyard.dispatch.models import (
    ACTIVE_STATES,
    ASSIGNED,
    CANCELED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Task,
    Worker,
)

log = logging.getLogger(__name__)

#: Worker messages after which a pass may assign something: a slot freed, a worker came or went.
#: ("started" and "progress" change nothing a pass looks at; a pass each would be wasted work.)
WAKING_MESSAGES = frozenset({"hello", "heartbeat", "bye", "reject", "done"})


def task_files_dir(spool: Path, task: Task) -> Path:
    """Where a task attempt's uploads are staged; one folder per attempt keeps retries apart."""
    return spool / "tasks" / str(task.id) / str(task.attempt)


class Dispatcher:
    def __init__(self, db: Database, bus: Bus, spool: Path, *, lease_seconds: float, tick: float = 0.5,
                 max_per_owner: int = 0, max_per_group: int = 0) -> None:
        self.db = db
        self.leadership = Leadership(db.engine, spool / "dispatcher.lock")
        self.is_leader = threading.Event()
        self.max_per_owner = max_per_owner  # 0: no cap
        self.max_per_group = max_per_group
        self.bus = bus
        self.spool = spool
        self.lease_seconds = lease_seconds
        self.tick = tick
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one pass at a time: messages and the loop share state
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Run in the background once this process wins leadership (at once, if it is alone)."""
        self.db.commit_listeners.append(self._on_commit)
        self._thread = threading.Thread(target=self._lead, name="dispatcher", daemon=True)
        self._thread.start()

    def _lead(self) -> None:
        while not self._stop.is_set():
            if not self.leadership.acquire(self._stop):
                return
            if not self.is_leader.is_set():
                self.is_leader.set()
                self.bus.consume(DISPATCH_QUEUE, self.handle)
            self._loop()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.leadership.release()

    def wake(self) -> None:
        self._wake.set()

    def _on_commit(self, info: dict[str, Any]) -> None:
        if info.get("dispatch_wake"):
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick)
            self._wake.clear()
            if not self.leadership.still_held():
                return  # re-acquire before touching anything again
            try:
                self.run_once()
            except Exception:
                log.exception("dispatch pass failed")
                time.sleep(self.tick)

    # -- one pass ------------------------------------------------------------------------------
    def run_once(self) -> None:
        sends: list[tuple[str, Message]] = []
        with self._lock, self.db.session() as s:
            now = time.time()
            self._expire_leases(s, now)
            self._mark_lost_workers(s, now)
            sends += self._relay_cancels(s)
            sends += self._assign(s, now)
            self._explain_waiting(s, now)
        for queue_name, msg in sends:
            self.bus.publish(queue_name, msg)

    def _alive_workers(self, s: Session, now: float) -> list[Worker]:
        rows = s.scalars(select(Worker).where(Worker.last_heartbeat > now - self.lease_seconds)).all()
        return [w for w in rows if w.state not in ("gone", "lost")]

    def _expire_leases(self, s: Session, now: float) -> None:
        expired = s.scalars(
            select(Task).where(Task.state.in_(ACTIVE_STATES), Task.lease_expires < now)
        ).all()
        for task in expired:
            log.warning("lease of task %s on %s expired", task.id, task.worker)
            self._requeue(s, task, f"worker {task.worker} stopped answering")

    def _requeue(self, s: Session, task: Task, why: str) -> None:
        if task.worker and task.worker not in task.tried_hosts:
            task.tried_hosts = [*task.tried_hosts, task.worker]
        task.worker = None
        task.lease_token = None
        task.lease_expires = None
        if task.cancel_requested:
            self._finish(s, task, CANCELED, 2, "canceled")
        elif task.attempt >= task.max_attempts:
            self._finish(s, task, FAILED, 3, f"gave up after {task.attempt} attempts: {why}")
        else:
            task.state = PENDING
            task.wait_reason = f"retrying: {why}"
            self._notify(s, task)

    def _mark_lost_workers(self, s: Session, now: float) -> None:
        for w in s.scalars(select(Worker).where(Worker.state.not_in(("lost", "gone")))):
            if w.last_heartbeat <= now - self.lease_seconds:
                w.state = "lost"

    def _relay_cancels(self, s: Session) -> list[tuple[str, Message]]:
        rows = s.scalars(
            select(Task).where(Task.state.in_(ACTIVE_STATES), Task.cancel_requested.is_(True))
        ).all()
        return [
            (worker_queue(t.worker), {"type": "cancel", "task_id": t.id, "token": t.lease_token})
            for t in rows
            if t.worker
        ]

    def _assign(self, s: Session, now: float) -> list[tuple[str, Message]]:
        workers = [w for w in self._alive_workers(s, now) if w.state != "draining"]
        if not workers:
            return []
        busy = dict(
            s.execute(
                select(Task.worker, func.count()).where(Task.state.in_(ACTIVE_STATES)).group_by(Task.worker)
            ).all()
        )
        running: dict[str, int] = {}
        running_groups: dict[str, int] = {}
        for owner, group, n in s.execute(
            select(Task.owner, Task.group, func.count()).where(Task.state.in_(ACTIVE_STATES))
            .group_by(Task.owner, Task.group)
        ):
            running[owner] = running.get(owner, 0) + n
            running_groups[group] = running_groups.get(group, 0) + n
        last_served: dict[str, float] = {}
        sends: list[tuple[str, Message]] = []
        progress = True
        while progress:  # round-robin over workers so slots fill evenly
            progress = False
            for w in workers:
                if busy.get(w.name, 0) >= w.slots:
                    continue
                task = self._pick(s, w, running, running_groups, last_served)
                if task is None:
                    continue
                task.state = ASSIGNED
                task.worker = w.name
                task.attempt += 1
                task.lease_token = secrets.token_hex(16)
                task.lease_expires = now + self.lease_seconds
                task.assigned_on = now
                task.wait_reason = ""
                last_served[task.owner] = now
                busy[w.name] = busy.get(w.name, 0) + 1
                running[task.owner] = running.get(task.owner, 0) + 1
                running_groups[task.group] = running_groups.get(task.group, 0) + 1
                w.state = "busy"
                s.flush()
                sends.append((worker_queue(w.name), self._assign_message(task)))
                progress = True
        return sends

    @staticmethod
    def _assign_message(task: Task) -> Message:
        return {
            "type": "assign",
            "task_id": task.id,
            "kind": task.kind,
            "attempt": task.attempt,
            "token": task.lease_token,
            "payload": task.payload,
        }

    def _pick(self, s: Session, w: Worker, running: dict[str, int], running_groups: dict[str, int],
              last_served: dict[str, float]) -> Task | None:
        """The next task for ``w``: the head (oldest task) of the most deserving owner and project."""
        q = (
            select(Task.priority, Task.owner, Task.group, func.min(Task.id))
            .where(Task.state == PENDING, Task.kind.in_(w.kinds))
            .where(Task.arch.is_(None) | Task.arch.in_(w.arches))
            .group_by(Task.priority, Task.owner, Task.group)
        )
        heads = [
            h for h in s.execute(q).all()
            if not (self.max_per_owner and running.get(h[1], 0) >= self.max_per_owner)
            and not (self.max_per_group and running_groups.get(h[2], 0) >= self.max_per_group)
        ]
        if not heads:
            return None
        owners = [h[1] for h in heads if h[1] not in last_served]
        if owners:
            last_served.update(
                (o, t or 0.0)
                for o, t in s.execute(
                    select(Task.owner, func.max(Task.assigned_on)).where(Task.owner.in_(owners)).group_by(Task.owner)
                )
            )
        head = min(heads, key=lambda h: (h[0], running.get(h[1], 0), last_served.get(h[1], 0.0),
                                         running_groups.get(h[2], 0), h[3]))
        return s.get(Task, head[3])

    def _explain_waiting(self, s: Session, now: float) -> None:
        """Say why pending tasks wait. Works per (kind, arch, owner, project) so it stays cheap
        with thousands queued: only tasks whose reason changes are touched."""
        workers = self._alive_workers(s, now)
        running: dict[Any, int] = {}
        for owner, group, n in s.execute(
            select(Task.owner, Task.group, func.count()).where(Task.state.in_(ACTIVE_STATES))
            .group_by(Task.owner, Task.group)
        ):
            running[("o", owner)] = running.get(("o", owner), 0) + n
            running[("g", group)] = running.get(("g", group), 0) + n
        combos = s.execute(
            select(Task.kind, Task.arch, Task.owner, Task.group).where(Task.state == PENDING).distinct()
        ).all()
        for kind, arch, owner, group in combos:
            able = [w for w in workers if kind in w.kinds and (arch is None or arch in w.arches)]
            if not able:
                what = f"{kind} tasks for {arch}" if arch else f"{kind} tasks"
                reason = f"no worker can run {what}; it waits until one registers"
            elif self.max_per_owner and running.get(("o", owner), 0) >= self.max_per_owner:
                reason = f"{owner} already runs {self.max_per_owner} tasks (the per-owner cap)"
            elif self.max_per_group and running.get(("g", group), 0) >= self.max_per_group:
                reason = f"{group} already runs {self.max_per_group} tasks (the per-project cap)"
            else:
                reason = "waiting for a free worker slot"
            stale = s.scalars(
                select(Task).where(Task.state == PENDING, Task.kind == kind, Task.owner == owner,
                                   Task.group == group, Task.wait_reason != reason,
                                   Task.arch.is_(None) if arch is None else Task.arch == arch)
                .where(~Task.wait_reason.startswith("retrying") | (reason != "waiting for a free worker slot"))
            ).all()
            for t in stale:
                t.wait_reason = reason
                self._notify(s, t)

    # -- worker messages -----------------------------------------------------------------------
    def handle(self, msg: Message) -> None:
        kind = msg.get("type")
        if kind == "wake":
            self._wake.set()
            return
        with self._lock, self.db.session() as s:
            now = time.time()
            if kind in ("hello", "heartbeat"):
                self._on_heartbeat(s, msg, now, hello=kind == "hello")
            elif kind == "bye":
                w = s.get(Worker, msg["worker"])
                if w:
                    w.state = "gone"
            elif kind == "started":
                task = self._fenced(s, msg)
                if task and task.state == ASSIGNED:
                    task.state = RUNNING
                    task.started_on = now
                    self._notify(s, task)
            elif kind == "reject":
                task = self._fenced(s, msg)
                if task:
                    task.attempt -= 1  # never started: it does not count as a try
                    self._requeue(s, task, f"worker {task.worker} is draining")
            elif kind == "done":
                task = self._fenced(s, msg)
                if task:
                    code = int(msg.get("code", 1))
                    if task.cancel_requested:
                        state = CANCELED
                    else:
                        state = SUCCEEDED if code == 0 else FAILED
                    self._finish(s, task, state, code, str(msg.get("text", "")))
        if kind in WAKING_MESSAGES:
            self._wake.set()

    def _fenced(self, s: Session, msg: Message) -> Task | None:
        """The task a message speaks of, only if its lease token is still the current one."""
        task = s.get(Task, int(msg.get("task_id", 0)))
        if task is None or task.lease_token is None or task.lease_token != msg.get("token"):
            log.info("ignoring stale %s for task %s", msg.get("type"), msg.get("task_id"))
            return None
        if task.state not in ACTIVE_STATES:
            return None
        return task

    def _on_heartbeat(self, s: Session, msg: Message, now: float, *, hello: bool) -> None:
        name = str(msg["worker"])
        w = s.get(Worker, name)
        if w is None:
            w = Worker(name=name)
            s.add(w)
        if "inventory" in msg:
            w.inventory = msg["inventory"]
            w.slots = int(msg["inventory"].get("slots", 1))
        w.last_heartbeat = now
        held = {int(k): v for k, v in (msg.get("tasks") or {}).items()}
        w.state = "draining" if msg.get("draining") else ("busy" if held else "idle")
        for task in s.scalars(select(Task).where(Task.worker == name, Task.state.in_(ACTIVE_STATES))):
            if held.get(task.id) == task.lease_token:
                task.lease_expires = now + self.lease_seconds
            elif hello or task.state == RUNNING:
                # The worker restarted or forgot the task: it will not finish it.
                self._requeue(s, task, f"worker {name} no longer runs it")

    def _finish(self, s: Session, task: Task, state: str, code: int, text: str) -> None:
        task.state = state
        task.result_code = code
        task.result_text = text
        task.ended_on = time.time()
        task.lease_expires = None
        self._notify(s, task)

    def _notify(self, s: Session, task: Task) -> None:
        hooks = kinds.server_hooks(task.kind)
        if hooks is not None:
            hooks.on_state(s, task, task_files_dir(self.spool, task))
