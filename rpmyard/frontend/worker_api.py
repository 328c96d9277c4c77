"""What workers call over HTTP: append to a task's live log, upload a task's result files.

Every call carries the task's lease token (``X-Task-Token``); a token that is not the task's
current lease is refused with 409, so a stale worker that comes back late changes nothing.
The routes are generic: where a log goes is the task kind's decision (its server hooks).
"""

from __future__ import annotations

import hmac
import os
import re
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from rpmyard.builds.errors import BadRequest, Conflict, NotFound, TooLarge, Unauthorized
from rpmyard.dispatch import kinds
from rpmyard.dispatch.dispatcher import task_files_dir
from rpmyard.dispatch.models import ACTIVE_STATES, Task
from rpmyard.frontend.deps import session, yard
from rpmyard.yard import Yard

router = APIRouter()
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~^-]{0,250}$")
MAX_LOG_CHUNK = 8 * 1024 * 1024


def fenced_task(s: Session, task_id: int, request: Request) -> Task:
    expected = request.app.state.yard.settings.worker_token
    if expected and not hmac.compare_digest(request.headers.get("x-worker-token", ""), expected):
        raise Unauthorized("this frontend only accepts workers that present its worker token (X-Worker-Token)")
    token = request.headers.get("x-task-token")
    if not token:
        raise Unauthorized("a task token is required (X-Task-Token)")
    task = s.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    if task.lease_token != token or task.state not in ACTIVE_STATES:
        raise Conflict(f"the lease of task {task_id} is no longer valid; this attempt's results are refused")
    s.commit()  # release SQLite's write lock while the body streams in
    return task


def _write_at(path: Path, offset: int, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "r+b" if path.exists() and offset > 0 else "wb"  # offset 0 starts a new attempt's log
    with open(path, mode) as fh:
        fh.seek(offset)
        fh.write(data)


def _log_target(s: Session, task_id: int, request: Request, stream: str) -> Path:
    """Where a log chunk goes. Called in a thread: database work on the event loop would block
    every request, including the ones whose commit would free SQLite's lock (a 30 s deadlock)."""
    task = fenced_task(s, task_id, request)
    hooks = kinds.server_hooks(task.kind)
    path = hooks.log_path(s, task, stream) if hooks else None
    s.commit()  # log_path may have read: release SQLite's write lock again
    if path is None:
        raise BadRequest(f"task kind {task.kind} has no log stream {stream!r}")
    return path


@router.post("/api/worker/tasks/{task_id}/log")
async def append_log(task_id: int, request: Request, stream: str = "main", offset: int = 0,
                     s: Session = Depends(session)) -> dict[str, int]:
    path = await run_in_threadpool(_log_target, s, task_id, request, stream)
    data = await request.body()
    if len(data) > MAX_LOG_CHUNK:
        raise TooLarge("log chunk too large")
    await run_in_threadpool(_write_at, path, offset, data)
    return {"written": len(data)}


@router.put("/api/worker/tasks/{task_id}/files/{name}")
async def upload_file(task_id: int, name: str, request: Request, s: Session = Depends(session),
                      y: Yard = Depends(yard)) -> dict[str, int]:
    if not SAFE_NAME.match(name) or ".." in name:
        raise BadRequest(f"unsafe file name {name!r}")
    task = await run_in_threadpool(fenced_task, s, task_id, request)
    target = task_files_dir(y.settings.spool_dir, task) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{name}.part")
    limit = y.settings.max_upload_mb * 1024 * 1024
    size = 0
    with open(tmp, "wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                fh.close()
                tmp.unlink(missing_ok=True)
                raise TooLarge(f"{name} is larger than {y.settings.max_upload_mb} MiB")
            fh.write(chunk)
    os.replace(tmp, target)
    return {"size": size}
