"""Builds: a project's build list, the build page, its live log (Server-Sent Events) and actions.

Cancel, rebuild and delete go through :class:`rpmyard.builds.service.BuildService`, the same code
and permission checks as the API; a refusal comes back as a message on the build page.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import projects as P
from rpmyard.builds import states
from rpmyard.builds.errors import BadRequest, NotFound, UserError
from rpmyard.builds.service import BuildService
from rpmyard.db.models import Build, Package, User
from rpmyard.dispatch import queue
from rpmyard.dispatch.models import Task
from rpmyard.frontend.templating import templates
from rpmyard.frontend.web import queries as Q
from rpmyard.frontend.web.common import (
    Page,
    access_of,
    check_csrf,
    flash,
    page_number,
    read_session,
    redirect,
    render,
    require_user,
    span,
    yard_of,
)
from rpmyard.yard import Yard

router = APIRouter()
PER_PAGE = 25
LOG_TAIL = 64 * 1024  # what the page shows at first; the full log is one click away
LOG_CHUNK = 64 * 1024
STREAM_SECONDS = 30  # then the stream ends and EventSource reconnects where it left off: a server
# shutting down waits for open responses, so none may stay open for long


def _time(ts: float | None) -> str:
    return str(templates.env.filters["time"](ts))


def build_rows(builds: list[Build]) -> list[dict[str, Any]]:
    rows = []
    for b in builds:
        code = BuildService.state(b)
        rows.append({
            "id": b.id, "build": b, "state": states.NAMES[code], "pkg_name": b.pkg_name,
            "pkg_version": b.pkg_version, "project": b.project.full_name,
            "submitter": b.submitter.name if b.submitter else None, "submitted_on": b.submitted_on,
            "ended_on": b.ended_on, "duration": span(b.started_on, b.ended_on) if b.started_on else "—",
            "chroots": [(bc.name, states.NAMES[bc.state]) for bc in b.chroots],
        })
    return rows


def get_build(s: Session, build_id: int) -> Build:
    build = s.get(Build, build_id)
    if build is None:
        raise NotFound(f"Build {build_id} does not exist.")
    return build


# -- the builds list --------------------------------------------------------------------------------
@router.get("/coprs/{owner}/{project}/builds", response_class=HTMLResponse)
def builds_list(owner: str, project: str, request: Request, state: str = "", package: str = "",
                sort: str = "id", dir: str = "desc", s: Session = Depends(read_session)) -> HTMLResponse:
    p = P.get_project(s, owner, project)
    if state and state not in Q.FILTER_STATES:
        raise BadRequest(f"state: unknown state {state!r}; use one of {', '.join(Q.FILTER_STATES)}")
    if sort not in Q.SORTS:
        raise BadRequest(f"sort: cannot sort by {sort!r}; use one of {', '.join(Q.SORTS)}")
    if dir not in ("asc", "desc"):
        raise BadRequest("dir: must be asc or desc")
    page = page_number(request)
    package = package.strip()[:200]
    package_id = None
    if package:
        package_id = s.scalar(select(Package.id).where(Package.project_id == p.id, Package.name == package)) or -1
    items, has_next, total = Q.builds_page(s, p.id, page=page, per_page=PER_PAGE, state=state or None,
                                           package_id=package_id, sort=sort, descending=dir == "desc")
    return render(request, "web/builds.html", {
        "project": p, "tab": "builds", "result": Page(build_rows(items), page, PER_PAGE, has_next, total),
        "state": state, "package": package, "sort": sort, "dir": dir, "filter_states": Q.FILTER_STATES,
        "access": access_of(request, s, p)})


# -- the build page ---------------------------------------------------------------------------------
def _chroot_rows(s: Session, y: Yard, build: Build) -> list[dict[str, Any]]:
    p = build.project
    task_ids = [bc.task_id for bc in build.chroots if bc.task_id]
    tasks = {t.id: t for t in s.scalars(select(Task).where(Task.id.in_(task_ids)))} if task_ids else {}
    rows = []
    for bc in build.chroots:
        task = tasks.get(bc.task_id) if bc.task_id else None
        url = (y.layout.build_url(p.owner.name, p.name, bc.name, build.id, build.pkg_name)
               if build.pkg_name and bc.state not in (states.WAITING, states.SKIPPED) else None)
        rows.append({
            "name": bc.name, "state": states.NAMES[bc.state], "note": _note(build, bc, task),
            "started_on": bc.started_on, "ended_on": bc.ended_on,
            "duration": span(bc.started_on, bc.ended_on) if bc.started_on else "—",
            "worker": task.worker if task is not None and bc.state == states.RUNNING else None,
            "attempt": f"{task.attempt} of {task.max_attempts}" if task is not None and task.attempt > 1 else None,
            "url": url, "packages": bc.packages or [],
        })
    return rows


def _note(build: Build, bc: Any, task: Task | None) -> str:
    """Why a chroot waits, why it failed, or what it is doing; what a user asks first."""
    if bc.state == states.PENDING:
        why = (task.wait_reason if task is not None else "") or bc.reason
        return why or "waiting for a free worker slot"
    if bc.state == states.WAITING:
        if build.source_state in (states.PENDING, states.RUNNING, states.IMPORTING):
            return "waiting for the source RPM to be downloaded and checked"
        return bc.reason or "waiting"
    return str(bc.reason or "")


def _source(y: Yard, build: Build) -> dict[str, Any]:
    p = build.project
    srpm_url = (y.layout.srpm_url(p.owner.name, p.name, build.id, build.srpm_name) if build.srpm_name else None)
    if build.source_type == "link":
        return {"kind": "SRPM URL", "label": build.source_dict.get("url", ""),
                "href": build.source_dict.get("url"), "srpm_url": srpm_url}
    return {"kind": "Uploaded SRPM", "label": build.source_dict.get("pkg") or build.srpm_name or "",
            "href": None, "srpm_url": srpm_url}


def _log_tail(path: Path | None) -> tuple[str, int]:
    if path is None or not path.is_file():
        return "", 0
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        start = max(0, size - LOG_TAIL)
        fh.seek(start)
        data = fh.read(size - start)
    if start:
        data = data.split(b"\n", 1)[-1]  # start on a whole line
    return data.decode("utf-8", errors="replace"), size


def _log_path(y: Yard, build: Build, chroot: str) -> Path | None:
    if not build.pkg_name:
        return None
    p = build.project
    return y.layout.build_dir(p.owner.name, p.name, chroot, build.id, build.pkg_name) / "builder-live.log"


def _pick_log_chroot(build: Build, wanted: str | None) -> str | None:
    names = [bc.name for bc in build.chroots]
    if wanted in names:
        return wanted
    for preferred in (states.RUNNING, states.FAILED, states.PENDING, states.SUCCEEDED):
        for bc in build.chroots:
            if bc.state == preferred:
                return bc.name
    return names[0] if names else None


def build_snapshot(s: Session, y: Yard, build: Build) -> dict[str, Any]:
    """The live part of the build page, as the event stream sends it."""
    code = BuildService.state(build)
    return {
        "state": states.NAMES[code], "description": states.DESCRIPTIONS.get(code, ""),
        "finished": code in states.FINISHED, "fail_reason": build.fail_reason,
        "started": _time(build.started_on), "ended": _time(build.ended_on),
        "took": span(build.started_on, build.ended_on) if build.started_on else "—",
        "chroots": [{k: r[k] for k in ("name", "state", "note", "duration", "worker", "url")}
                    for r in _chroot_rows(s, y, build)],
    }


@router.get("/coprs/build/{build_id}", response_class=HTMLResponse)
def build_page(build_id: int, request: Request, chroot: str | None = None,
               s: Session = Depends(read_session)) -> HTMLResponse:
    y = yard_of(request)
    build = get_build(s, build_id)
    code = BuildService.state(build)
    log_chroot = _pick_log_chroot(build, chroot)
    log_text, log_offset = _log_tail(_log_path(y, build, log_chroot) if log_chroot else None)
    finished = code in states.FINISHED
    return render(request, "web/build.html", {
        "build": build, "project": build.project, "tab": "builds", "state": states.NAMES[code],
        "state_description": states.DESCRIPTIONS.get(code, ""), "finished": finished,
        "chroots": _chroot_rows(s, y, build), "source": _source(y, build),
        "access": access_of(request, s, build.project), "log_chroot": log_chroot,
        "log_text": log_text, "log_offset": log_offset,
        "log_url": (_log_url(y, build, log_chroot) if log_chroot and build.pkg_name else None),
        "can_rebuild": bool(build.srpm_name or build.source_type == "link"),
    })


def _log_url(y: Yard, build: Build, chroot: str) -> str:
    p = build.project
    return y.layout.build_url(p.owner.name, p.name, chroot, build.id, str(build.pkg_name)) + "builder-live.log"


# -- live updates -----------------------------------------------------------------------------------
def _event(kind: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def _read_log(path: Path | None, offset: int, final: bool) -> tuple[bytes, int, bool]:
    """New whole lines of the log after ``offset``; (data, new offset, log was restarted)."""
    if path is None or not path.is_file():
        return b"", offset, False
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if size < offset:  # a retry on another worker starts the log anew
            return b"", 0, True
        fh.seek(offset)
        data = fh.read(min(LOG_CHUNK, size - offset))
    if not final and len(data) < LOG_CHUNK and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]  # hold back a half-written line
    return data, offset + len(data), False


@router.get("/coprs/build/{build_id}/events", response_model=None)
async def build_events(build_id: int, request: Request, chroot: str | None = None, offset: int = 0) -> Response:
    """Server-Sent Events: ``state`` when anything on the page changes, ``log`` as the log grows,
    ``end`` once the build has finished and its log was sent whole. The event id is the log offset,
    so a reconnecting EventSource resumes the log where it stopped."""
    y = yard_of(request)
    last_id = request.headers.get("last-event-id", "")
    start = int(last_id) if last_id.isdigit() else max(0, offset)

    def snapshot() -> tuple[dict[str, Any], Path | None]:
        with y.db.read_session() as s:
            build = get_build(s, build_id)
            name = chroot if chroot in [bc.name for bc in build.chroots] else None
            return build_snapshot(s, y, build), (_log_path(y, build, name) if name else None)

    await run_in_threadpool(snapshot)  # a missing build is a 404, not an empty stream

    async def stream() -> AsyncIterator[bytes]:
        position = start
        sent: dict[str, Any] | None = None
        deadline = time.monotonic() + STREAM_SECONDS
        yield b"retry: 2000\n\n"
        while time.monotonic() < deadline and not await request.is_disconnected():
            snap, path = await run_in_threadpool(snapshot)
            if snap != sent:
                yield _event("state", snap)
                sent = snap
            finished = bool(snap["finished"])
            while True:  # drain the log; after the end, everything that is left
                data, position, restarted = await run_in_threadpool(_read_log, path, position, finished)
                if restarted:
                    yield _event("reset", {}, 0)
                    continue
                if not data:
                    break
                yield _event("log", {"text": data.decode("utf-8", errors="replace")}, position)
            if finished:
                yield _event("end", {"state": snap["state"]}, position)
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# -- actions ----------------------------------------------------------------------------------------
async def _action(request: Request, build_id: int, act: str) -> Response:
    form = await request.form()
    check_csrf(request, form)
    return await run_in_threadpool(_do_action, request, build_id, act)


def _do_action(request: Request, build_id: int, act: str) -> Response:
    y = yard_of(request)
    target = f"/coprs/build/{build_id}/"
    try:
        with y.db.session() as s:
            user = require_user(request, s)
            build = get_build(s, build_id)
            project = build.project
            if act == "cancel":
                y.builds.cancel(s, build, user)
                message = f"Build {build_id} was canceled."
            elif act == "delete":
                y.builds.delete(s, build, user)
                message = f"Build {build_id} was deleted."
                target = f"/coprs/{project.full_name}/builds/"
            else:
                new = _rebuild(s, y, build, user)
                message = f"Build {new.id} was submitted: a rebuild of {build_id}."
                target = f"/coprs/build/{new.id}/"
    except UserError as exc:
        if exc.status == 404:
            raise
        flash(request, exc.message, "error")
        return redirect(f"/coprs/build/{build_id}/")
    flash(request, message, "success")
    return redirect(target)


def _rebuild(s: Session, y: Yard, build: Build, user: User) -> Build:
    """Submit the same source again, for the same chroots, through the service's normal path."""
    project = build.project
    y.builds.check_can_build(project, user)
    opts = y.builds.options({"chroots": [bc.name for bc in build.chroots], "timeout": build.timeout,
                             "background": build.is_background, "enable_net": build.enable_net})
    if build.source_type == "link" and build.source_dict.get("url"):
        new = y.builds.submit_url(s, project, user, opts, str(build.source_dict["url"]))
        new_id = new.id
        queue.after_commit(s, lambda: y.fetcher.fetch_later(new_id))
        return new
    if not build.srpm_name:
        raise BadRequest(f"Build {build.id} has no source RPM to rebuild from.")
    srpm = y.layout.srpm_dir(project.owner.name, project.name, build.id) / build.srpm_name
    if not srpm.is_file():
        raise BadRequest(f"The source RPM of build {build.id} is gone; upload it again.")
    y.settings.spool_dir.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix="rebuild-", dir=y.settings.spool_dir))
    try:
        copy = tmpdir / "rebuild.src.rpm"
        shutil.copyfile(srpm, copy)
        return y.builds.submit_upload(s, project, user, opts, copy, build.srpm_name)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@router.post("/coprs/build/{build_id}/cancel", response_model=None)
async def cancel(build_id: int, request: Request) -> Response:
    return await _action(request, build_id, "cancel")


@router.post("/coprs/build/{build_id}/rebuild", response_model=None)
async def rebuild(build_id: int, request: Request) -> Response:
    return await _action(request, build_id, "rebuild")


@router.post("/coprs/build/{build_id}/delete", response_model=None)
async def delete(build_id: int, request: Request) -> Response:
    return await _action(request, build_id, "delete")
