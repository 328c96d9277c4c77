"""Submitting and cancelling tasks inside the caller's transaction (the outbox idea).

A task is committed together with whatever created it; the dispatcher is woken only after that
commit, so a crash in between loses nothing: the dispatcher's periodic scan finds the task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from rpmyard.db.base import now
from rpmyard.dispatch.models import ACTIVE_STATES, CANCELED, PENDING, Task


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's transaction has committed (see Database.session)."""
    session.info.setdefault("after_commit", []).append(callback)


def on_rollback(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` if the session's transaction rolls back: undo side effects on disk."""
    session.info.setdefault("on_rollback", []).append(callback)


def submit(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    owner: str,
    group: str,
    arch: str | None,
    background: bool = False,
    max_attempts: int = 3,
) -> Task:
    task = Task(
        kind=kind,
        payload=payload,
        owner=owner,
        group=group,
        arch=arch,
        priority=1 if background else 0,
        max_attempts=max_attempts,
        state=PENDING,
    )
    session.add(task)
    session.flush()
    session.info["dispatch_wake"] = True
    return task


def request_cancel(session: Session, task: Task) -> bool:
    """Cancel a task. A pending one ends at once; a running one is told to stop by the dispatcher.

    Returns True when the task ended here (the caller's state is final now).
    """
    if task.state == PENDING:
        task.state = CANCELED
        task.ended_on = float(now())
        task.result_text = "canceled before it started"
        return True
    if task.state in ACTIVE_STATES:
        task.cancel_requested = True
        session.info["dispatch_wake"] = True
    return False
