"""What the fleet looks like: workers with their inventory and tasks, task kinds, the queue.

Shared by `rpmyard workers`, `rpmyard tasks`, the JSON API and the web pages.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rpmyard.dispatch.models import ACTIVE_STATES, PENDING, Task, Worker


def worker_state(w: Worker, now: float, lease_seconds: float) -> str:
    if w.state == "gone":
        return "gone"
    if now - w.last_heartbeat > lease_seconds:
        return "lost"
    return w.state


def workers(s: Session, lease_seconds: float) -> list[dict[str, Any]]:
    now = time.time()
    running: dict[str, list[dict[str, Any]]] = {}
    for t in s.scalars(select(Task).where(Task.state.in_(ACTIVE_STATES))):
        running.setdefault(t.worker or "", []).append(
            {"id": t.id, "kind": t.kind, "owner": t.owner, "group": t.group, "state": t.state,
             "started_on": t.started_on})
    out = []
    for w in s.scalars(select(Worker).order_by(Worker.name)):
        out.append({
            "name": w.name, "state": worker_state(w, now, lease_seconds), "host": w.inventory.get("host"),
            "arches": w.arches, "slots": w.slots, "tasks": running.get(w.name, []),
            "heartbeat_age": round(now - w.last_heartbeat, 1), "inventory": w.inventory,
        })
    return out


def task_kinds(s: Session, lease_seconds: float) -> dict[str, dict[str, Any]]:
    """Each kind the live fleet can run, with its versions and how many slots offer it."""
    kinds: dict[str, dict[str, Any]] = {}
    for w in workers(s, lease_seconds):
        if w["state"] in ("lost", "gone"):
            continue
        for kind, version in (w["inventory"].get("kinds") or {}).items():
            entry = kinds.setdefault(kind, {"versions": set(), "workers": 0, "slots": 0})
            entry["versions"].add(str(version))
            entry["workers"] += 1
            entry["slots"] += w["slots"]
    return {k: {**v, "versions": sorted(v["versions"])} for k, v in sorted(kinds.items())}


def queue_summary(s: Session) -> dict[str, Any]:
    """Pending and running counts by owner, project and arch; the oldest waiting task and why."""
    def counts(column: Any, states: tuple[str, ...]) -> dict[str, int]:
        rows = s.execute(select(column, func.count()).where(Task.state.in_(states)).group_by(column))
        return {str(k) if k is not None else "any": int(n) for k, n in rows}

    oldest = s.scalar(select(Task).where(Task.state == PENDING).order_by(Task.id).limit(1))
    return {
        "pending": {"by_owner": counts(Task.owner, (PENDING,)), "by_project": counts(Task.group, (PENDING,)),
                    "by_arch": counts(Task.arch, (PENDING,))},
        "running": {"by_owner": counts(Task.owner, ACTIVE_STATES), "by_project": counts(Task.group, ACTIVE_STATES),
                    "by_arch": counts(Task.arch, ACTIVE_STATES)},
        "oldest_pending": None if oldest is None else {
            "id": oldest.id, "kind": oldest.kind, "owner": oldest.owner, "group": oldest.group,
            "arch": oldest.arch, "waiting_seconds": round(time.time() - oldest.created_on, 1),
            "reason": oldest.wait_reason},
    }
