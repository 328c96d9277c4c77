"""Builds: create (upload, URL), get, list, cancel, delete, built packages."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import projects as P
from rpmyard.builds import states
from rpmyard.builds.errors import BadRequest, NotFound, TooLarge
from rpmyard.db.models import Build, User
from rpmyard.dispatch import queue
from rpmyard.frontend.deps import body, current_user, session, yard
from rpmyard.frontend.pagination import paginate
from rpmyard.frontend.schemas import build_dict
from rpmyard.yard import Yard

router = APIRouter()
ORDER = {"id": Build.id, "submitted_on": Build.submitted_on, "ended_on": Build.ended_on}
UNSUPPORTED = ("scm", "distgit", "pypi", "rubygems", "custom")


def get_build(s: Session, build_id: int) -> Build:
    build = s.get(Build, build_id)
    if build is None:
        raise NotFound(f"Build {build_id} does not exist.")
    return build


def _project_for(s: Session, data: dict[str, Any]) -> Any:
    owner, name = data.get("ownername"), data.get("projectname")
    if not owner or not name:
        raise BadRequest("ownername and projectname are required")
    dirname = data.get("project_dirname")
    if dirname and dirname != name:
        raise BadRequest(f"project_dirname: custom directories ({dirname}) are not supported here")
    return P.get_project(s, str(owner), str(name))


@router.get("/api_3/build/list")
def list_builds(request: Request, ownername: str, projectname: str, packagename: str | None = None,
                status: str | None = None, s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    q = select(Build).where(Build.project_id == project.id)
    if packagename:
        q = q.where(Build.pkg_name == packagename)
    if status and status not in states.BY_NAME:
        raise BadRequest(f"status: unknown state {status!r}")
    items, meta = paginate(s, request, q, ORDER)
    out = [build_dict(b, y.layout) for b in items]
    if status:  # Copr filters by the derived state after the query, too
        out = [b for b in out if b["state"] == status]
    return {"items": out, "meta": meta}


@router.get("/api_3/build/source-chroot/{build_id}")
def source_chroot(build_id: int, s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    b = get_build(s, build_id)
    p = b.project
    url = f"{y.layout.project_url(p.owner.name, p.name)}/srpm-builds/{b.id:08d}/" if b.srpm_name else None
    return {"state": states.NAMES[b.source_state], "result_url": url}


@router.get("/api_3/build/source-build-config/{build_id}")
def source_build_config(build_id: int, s: Session = Depends(session)) -> dict[str, Any]:
    b = get_build(s, build_id)
    return {"source_type": b.source_type, "source_dict": b.source_dict, "memory_limit": 2048,
            "timeout": b.timeout, "is_background": b.is_background}


@router.get("/api_3/build/built-packages/{build_id}")
def built_packages(build_id: int, s: Session = Depends(session)) -> dict[str, Any]:
    b = get_build(s, build_id)
    return {bc.name: {"packages": bc.packages or []} for bc in b.chroots}


@router.api_route("/api_3/build/cancel/{build_id}", methods=["PUT", "POST"])
def cancel_build(build_id: int, user: User = Depends(current_user), s: Session = Depends(session),
                 y: Yard = Depends(yard)) -> dict[str, Any]:
    b = get_build(s, build_id)
    y.builds.cancel(s, b, user)
    s.flush()
    return build_dict(b, y.layout)


@router.api_route("/api_3/build/delete/list", methods=["DELETE", "POST"])
def delete_builds(data: dict[str, Any] = Depends(body), user: User = Depends(current_user),
                  s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    ids = data.get("builds")
    if not isinstance(ids, list) or not ids:
        raise BadRequest("builds: a list of build ids is required")
    try:
        wanted = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise BadRequest("builds: ids must be numbers") from None
    for build_id in wanted:  # all or nothing: any error rolls the whole request back
        y.builds.delete(s, get_build(s, build_id), user)
    return {"builds": wanted}


@router.api_route("/api_3/build/delete/{build_id}", methods=["DELETE", "POST"])
def delete_build(build_id: int, user: User = Depends(current_user), s: Session = Depends(session),
                 y: Yard = Depends(yard)) -> dict[str, Any]:
    b = get_build(s, build_id)
    result = build_dict(b, y.layout)
    y.builds.delete(s, b, user)
    return result


@router.post("/api_3/build/check-before-build")
def check_before_build(data: dict[str, Any] = Depends(body), user: User = Depends(current_user),
                       s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    project = _project_for(s, data)
    y.builds.check_can_build(project, user)
    y.builds.pick_chroots(project, y.builds.options(data))
    return {"message": "It should be safe to submit a build like this"}


@router.post("/api_3/build/create/url")
def create_from_url(data: dict[str, Any] = Depends(body), user: User = Depends(current_user),
                    s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    project = _project_for(s, data)
    opts = y.builds.options(data)
    urls = P.as_list(data.get("pkgs"))
    if not urls:
        raise BadRequest("pkgs: at least one URL of a source RPM is required")
    built = [y.builds.submit_url(s, project, user, opts, url) for url in urls]
    ids = [b.id for b in built]
    queue.after_commit(s, lambda: [y.fetcher.fetch_later(i) for i in ids])
    meta = {"limit": None, "offset": None, "order": None, "order_type": None}
    return {"items": [build_dict(b, y.layout) for b in built], "meta": meta}


@router.post("/api_3/build/create/upload")
async def create_from_upload(request: Request, user: User = Depends(current_user),
                             s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    limit = y.settings.max_upload_mb * 1024 * 1024
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise BadRequest("uploads need a Content-Length header")
    if int(length) > limit:
        raise TooLarge(f"The upload is {int(length) // 2**20} MiB; the limit is {y.settings.max_upload_mb} MiB.")
    data = await body(request)
    form = await request.form()
    upload = form.get("pkgs")
    if upload is None or not hasattr(upload, "filename"):
        raise BadRequest("pkgs: a source RPM file is required")
    filename = Path(upload.filename or "upload.src.rpm").name
    opts = y.builds.options(data)
    y.settings.spool_dir.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix="upload-", dir=y.settings.spool_dir))
    try:
        target = tmpdir / "upload.src.rpm"
        with open(target, "wb") as fh:
            await run_in_threadpool(shutil.copyfileobj, upload.file, fh, 1024 * 1024)
        project = await run_in_threadpool(_project_for, s, data)
        build = await run_in_threadpool(y.builds.submit_upload, s, project, user, opts, target, filename)
        return build_dict(build, y.layout)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@router.post("/api_3/build/create/{source}")
def create_unsupported(source: str) -> dict[str, Any]:
    if source in UNSUPPORTED:
        raise BadRequest(f"Building from {source} is not supported by this rpmyard instance yet; "
                         "upload an SRPM or give its URL.")
    raise NotFound(f"Unknown build source {source!r}.")


@router.get("/api_3/build/{build_id}")
def get_one(build_id: int, s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    return build_dict(get_build(s, build_id), y.layout)
