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
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from rpmyard.builds.errors import BadRequest, Conflict, NotFound, TooLarge, Unauthorized
from rpmyard.db.engine import Database
from rpmyard.dispatch import kinds
from rpmyard.dispatch.dispatcher import task_files_dir
from rpmyard.dispatch.models import ACTIVE_STATES, Task
from rpmyard.frontend.deps import yard
from rpmyard.yard import Yard

router = APIRouter()
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~^-]{0,250}$")
MAX_LOG_CHUNK = 8 * 1024 * 1024


def fenced_task(s: Session, task_id: int, request: Request) -> Task:
    """The task, if the caller holds its current lease. Only reads: on SQLite a worker's log lines
    and uploads then never queue behind the write lock."""
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
    return task


def _write_at(path: Path, offset: int, data: bytes) -> None:
    """Write a log chunk where the task kind said; its directory is the kind's to make (and a
    directory removed since, e.g. with a deleted project, is not made again)."""
    mode = "r+b" if path.exists() and offset > 0 else "wb"  # offset 0 starts a new attempt's log
    try:
        with open(path, mode) as fh:
            fh.seek(offset)
            fh.write(data)
    except FileNotFoundError:
        raise NotFound(f"{path.parent} no longer exists; the log is not kept") from None


def _write_chunks(chunks: list[tuple[Path, int, bytes]]) -> None:
    for path, offset, data in chunks:
        _write_at(path, offset, data)


def _log_targets(db: Database, task_id: int, request: Request, streams: list[str]) -> list[Path]:
    """Where each log chunk goes. Called in a thread: database work on the event loop would block
    every request."""
    with db.read_session() as s:
        task = fenced_task(s, task_id, request)
        hooks = kinds.server_hooks(task.kind)
        paths = []
        for stream in streams:
            path = hooks.log_path(s, task, stream) if hooks else None
            if path is None:
                raise BadRequest(f"task kind {task.kind} has no log stream {stream!r}")
            paths.append(path)
        return paths


def _upload_target(db: Database, task_id: int, request: Request, name: str) -> Path:
    with db.read_session() as s:
        task = fenced_task(s, task_id, request)
        return task_files_dir(request.app.state.yard.settings.spool_dir, task) / name


@router.post("/api/worker/tasks/{task_id}/log")
async def append_log(task_id: int, request: Request, y: Yard = Depends(yard),
                     stream: Annotated[list[str], Query()] = ["main"],  # noqa: B006 (FastAPI copies it)
                     offset: Annotated[list[int], Query()] = [0],  # noqa: B006
                     length: Annotated[list[int] | None, Query()] = None) -> dict[str, int]:
    """Append chunks to a task's logs: the body is the chunks one after another, the i-th going to
    ``stream[i]`` at ``offset[i]`` and ``length[i]`` bytes long (one chunk: the whole body). One
    request per flush, however many streams a task writes."""
    lengths = length or []
    if len(offset) != len(stream) or (lengths and len(lengths) != len(stream)) or (not lengths and len(stream) > 1):
        raise BadRequest("give one offset (and, for several streams, one length) per stream")
    if any(n < 0 for n in [*offset, *lengths]):
        raise BadRequest("offsets and lengths cannot be negative")
    paths = await run_in_threadpool(_log_targets, y.db, task_id, request, stream)
    data = await request.body()
    if len(data) > MAX_LOG_CHUNK:
        raise TooLarge("log chunk too large")
    if lengths and sum(lengths) != len(data):
        raise BadRequest(f"the lengths add up to {sum(lengths)} bytes but the body has {len(data)}")
    chunks, start = [], 0
    for path, at, n in zip(paths, offset, lengths or [len(data)], strict=True):
        chunks.append((path, at, data[start:start + n]))
        start += n
    await run_in_threadpool(_write_chunks, chunks)
    return {"written": len(data)}


@router.put("/api/worker/tasks/{task_id}/files/{name}")
async def upload_file(task_id: int, name: str, request: Request, y: Yard = Depends(yard)) -> dict[str, int]:
    if not SAFE_NAME.match(name) or ".." in name:
        raise BadRequest(f"unsafe file name {name!r}")
    target = await run_in_threadpool(_upload_target, y.db, task_id, request, name)
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
