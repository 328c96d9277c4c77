"""Builders and queue: what every worker does now, and what waits and why.

Both read the dispatcher's own tables (``workers``, ``tasks``), the same rows it decides from, so
the page shows what the dispatcher sees. A worker whose heartbeat is older than the lease is shown
as lost even before the dispatcher's next pass marks it so (``fleet.worker_state``, shared with
`rpmyard workers` and ``/api/workers``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rpmyard.dispatch.fleet import worker_state
from rpmyard.dispatch.models import ACTIVE_STATES, PENDING, Task, Worker
from rpmyard.frontend.web.common import read_session, render, yard_of

router = APIRouter()
OLDEST_SHOWN = 15


def describe_task(t: Task) -> dict[str, Any]:
    """A task as people know it: the build, package and chroot for RPM builds; the kind otherwise."""
    p = t.payload or {}
    build_id = p.get("build_id")
    return {
        "id": t.id, "kind": t.kind, "state": t.state, "owner": t.owner, "group": t.group, "arch": t.arch or "any",
        "build_id": build_id, "package": p.get("pkg_name"), "chroot": p.get("chroot"),
        "url": f"/coprs/build/{build_id}/" if build_id else None, "wait_reason": t.wait_reason,
        "worker": t.worker, "attempt": t.attempt, "max_attempts": t.max_attempts,
        "created_on": t.created_on, "started_on": t.started_on or t.assigned_on,
    }


@router.get("/status", response_model=None)
def status_root() -> RedirectResponse:
    return RedirectResponse("/status/builders", status_code=302)


@router.get("/status/builders", response_class=HTMLResponse)
def builders(request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    y = yard_of(request)
    now = time.time()
    active = s.scalars(select(Task).where(Task.state.in_(ACTIVE_STATES)).order_by(Task.id)).all()
    by_worker: dict[str, list[dict[str, Any]]] = {}
    for t in active:
        by_worker.setdefault(t.worker or "", []).append(describe_task(t))
    rows = []
    for w in s.scalars(select(Worker).order_by(Worker.name)):
        age = now - w.last_heartbeat if w.last_heartbeat else None
        state = worker_state(w, now, y.settings.lease_seconds)  # the rule `rpmyard workers` uses
        tasks = by_worker.get(w.name, [])
        if state == "idle" and tasks:
            state = "busy"
        inv = dict(w.inventory or {})
        rows.append({
            "name": w.name, "state": state, "arches": w.arches, "slots": w.slots, "tasks": tasks,
            "used": len(tasks), "heartbeat_age": age, "registered_on": w.registered_on,
            "kinds": w.kinds, "cpus": inv.get("cpus"), "memory_mb": inv.get("memory_mb"),
            "sandbox": inv.get("sandbox"), "host": inv.get("host") or inv.get("hostname") or w.name,
            "inventory": json.dumps(inv, indent=2, sort_keys=True),
        })
    totals = {
        "workers": sum(1 for r in rows if r["state"] not in ("lost", "gone")),
        "slots": sum(r["slots"] for r in rows if r["state"] not in ("lost", "gone")),
        "busy": sum(r["used"] for r in rows),
        "pending": s.scalar(select(func.count()).select_from(Task).where(Task.state == PENDING)) or 0,
    }
    return render(request, "web/builders.html", {"workers": rows, "totals": totals, "section": "builders",
                                                 "lease_seconds": y.settings.lease_seconds})


@router.get("/status/queue", response_class=HTMLResponse)
def queue_page(request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    groups: dict[str, list[dict[str, Any]]] = {}
    for label, column in (("owner", Task.owner), ("project", Task.group), ("arch", Task.arch)):
        rows = s.execute(
            select(column, Task.state, func.count()).where(Task.state.in_((PENDING, *ACTIVE_STATES)))
            .group_by(column, Task.state)
        ).all()
        table: dict[str, dict[str, int]] = {}
        for key, state, n in rows:
            entry = table.setdefault(key or "any", {"pending": 0, "running": 0})
            entry["pending" if state == PENDING else "running"] += n
        groups[label] = [{"key": k, **v} for k, v in sorted(table.items(), key=lambda kv: (-kv[1]["pending"],
                                                                                         -kv[1]["running"], kv[0]))]
    oldest = [describe_task(t) for t in s.scalars(
        select(Task).where(Task.state == PENDING).order_by(Task.priority, Task.created_on, Task.id)
        .limit(OLDEST_SHOWN))]
    counts = {
        "pending": sum(g["pending"] for g in groups["owner"]),
        "running": sum(g["running"] for g in groups["owner"]),
    }
    return render(request, "web/queue.html", {"groups": groups, "oldest": oldest, "counts": counts,
                                              "section": "queue"})
