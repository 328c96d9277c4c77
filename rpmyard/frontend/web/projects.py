"""Projects: overview with install lines, the new-project form, settings, delete, the new-build form.

Every change goes through the same functions as the API (``rpmyard.builds.projects``, the API's
project routes, ``BuildService``), so a form can do exactly what copr-cli can and no more. A
refused form is shown again with the user's input and the reason.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import permissions
from rpmyard.builds import projects as P
from rpmyard.builds.errors import BadRequest, TooLarge, UserError
from rpmyard.db.models import Build, Project, User
from rpmyard.dispatch import queue
from rpmyard.frontend.api_v3 import projects as api_projects
from rpmyard.frontend.web import queries as Q
from rpmyard.frontend.web.builds import build_rows
from rpmyard.frontend.web.common import (
    access_of,
    check_csrf,
    flash,
    read_session,
    redirect,
    render,
    require_user,
    yard_of,
)
from rpmyard.yard import Yard

router = APIRouter()
TEXT_FIELDS = ("description", "instructions", "homepage", "contact")


def install_lines(y: Yard, project: Project) -> list[dict[str, Any]]:
    """Per chroot: the `dnf copr enable` line (dnf's plugin wants distribution-version-arch) and
    the release's .repo file (one per release: its baseurl uses $basearch)."""
    base = y.settings.base_url
    owner, name = project.owner.name, project.name
    lines = []
    for chroot in project.active_chroot_names():
        release, _, arch = chroot.rpartition("-")
        lines.append({
            "chroot": chroot, "release": release, "arch": arch,
            "enable": f"dnf copr enable --hub {base} {owner}/{name} {chroot}",
            "repo_url": f"/coprs/{owner}/{name}/repo/{release}/{owner}-{name}-{release}.repo",
        })
    return lines


@router.get("/coprs/{owner}/add", response_class=HTMLResponse)
def new_project_form(owner: str, request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    permissions.require_create_for(require_user(request, s), owner)
    return render(request, "web/project_form.html", {
        "mode": "new", "owner": owner, "values": {"chroots": []}, "error": None,
        "all_chroots": [c.name for c in P.active_chroots(s)]})


def _form_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {f: str(form.get(f) or "").strip() for f in (*TEXT_FIELDS, "name", "repos")}
    values["chroots"] = [str(c) for c in form.getlist("chroots")]
    for flag in ("enable_net", "unlisted_on_hp"):
        values[flag] = form.get(flag) == "on"
    return values


def _api_data(values: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {f: values[f] for f in TEXT_FIELDS}
    data.update(chroots=values["chroots"], enable_net=values["enable_net"], unlisted_on_hp=values["unlisted_on_hp"])
    for f in ("homepage", "contact"):
        data[f] = data[f] or None
    return data


@router.post("/coprs/{owner}/add", response_model=None)
async def create_project(owner: str, request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    return await run_in_threadpool(_create_project, owner, request, _form_values(form))


def _create_project(owner: str, request: Request, values: dict[str, Any]) -> Response:
    y = yard_of(request)
    try:
        with y.db.session() as s:
            permissions.require_create_for(require_user(request, s), owner)
            owner_user = User.named(s, owner)
            if owner_user is None:
                raise BadRequest(f"user {owner} does not exist")
            data = {**_api_data(values), "name": values["name"],
                    "additional_repos": P.as_list(values["repos"])}
            project = P.create_project(s, owner_user, data)
            api_projects._publish_empty_repos(y, s, project)
            full_name = project.full_name
    except UserError as exc:
        if exc.status in (401, 403):
            raise
        with y.db.session() as s:
            chroots = [c.name for c in P.active_chroots(s)]
        return render(request, "web/project_form.html", {
            "mode": "new", "owner": owner, "values": values, "error": exc.message, "all_chroots": chroots},
            status_code=exc.status)
    flash(request, f"Project {full_name} was created. Upload a source RPM to build it.", "success")
    return redirect(f"/coprs/{full_name}/")


@router.get("/coprs/{owner}/{project}", response_class=HTMLResponse)
def overview(owner: str, project: str, request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    y = yard_of(request)
    p = P.get_project(s, owner, project)
    latest = list(s.scalars(select(Build).where(Build.project_id == p.id).order_by(Build.id.desc()).limit(10)))
    counts = Q.build_counts(s, [p.id])
    return render(request, "web/project.html", {
        "project": p, "tab": "overview", "installs": install_lines(y, p), "builds": build_rows(latest),
        "build_count": counts.get(p.id, 0), "access": access_of(request, s, p),
        "repo_browse": f"/results/{p.full_name}/"})


def _settings_values(p: Project) -> dict[str, Any]:
    values: dict[str, Any] = {f: getattr(p, f) or "" for f in TEXT_FIELDS}
    values.update(name=p.name, chroots=p.active_chroot_names(), enable_net=p.enable_net,
                  unlisted_on_hp=p.unlisted_on_hp, repos="\n".join(p.additional_repos or []))
    return values


@router.get("/coprs/{owner}/{project}/edit", response_class=HTMLResponse)
def settings_form(owner: str, project: str, request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    user = require_user(request, s)
    p = P.get_project(s, owner, project)
    permissions.require_edit(p, user)
    return render(request, "web/project_form.html", {
        "mode": "edit", "project": p, "tab": "settings", "owner": owner, "values": _settings_values(p),
        "error": None, "all_chroots": _chroot_choices(s, p), "access": permissions.access(p, user)})


def _chroot_choices(s: Session, p: Project | None) -> list[str]:
    names = {c.name for c in P.active_chroots(s)}
    if p is not None:
        names.update(p.active_chroot_names())  # a chroot an admin disabled stays visible while enabled here
    return sorted(names)


@router.post("/coprs/{owner}/{project}/edit", response_model=None)
async def save_settings(owner: str, project: str, request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    return await run_in_threadpool(_save_settings, owner, project, request, _form_values(form))


def _save_settings(owner: str, project: str, request: Request, values: dict[str, Any]) -> Response:
    y = yard_of(request)
    try:
        with y.db.session() as s:
            user = require_user(request, s)
            p = P.get_project(s, owner, project)
            permissions.require_edit(p, user)
            data = {**_api_data(values), "repos": P.as_list(values["repos"])}
            if not data["chroots"]:
                raise BadRequest("chroots: at least one chroot must be selected")
            P.apply_fields(s, p, data, repos_key="repos")
            s.flush()
            api_projects._publish_empty_repos(y, s, p)
    except UserError as exc:
        if exc.status in (401, 403, 404):
            raise
        with y.db.session() as s:
            p = P.get_project(s, owner, project)
            return render(request, "web/project_form.html", {
                "mode": "edit", "project": p, "tab": "settings", "owner": owner, "values": values,
                "error": exc.message, "all_chroots": _chroot_choices(s, p), "access": access_of(request, s, p)},
                status_code=exc.status)
    flash(request, "Settings saved.", "success")
    return redirect(f"/coprs/{owner}/{project}/edit")


@router.post("/coprs/{owner}/{project}/delete", response_model=None)
async def delete_project(owner: str, project: str, request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    confirm = str(form.get("confirm") or "").strip()
    return await run_in_threadpool(_delete_project, owner, project, request, confirm)


def _delete_project(owner: str, project: str, request: Request, confirm: str) -> Response:
    y = yard_of(request)
    if confirm != project:
        flash(request, f"Type the project name ({project}) to confirm the deletion.", "error")
        return redirect(f"/coprs/{owner}/{project}/edit")
    with y.db.session() as s:
        user = require_user(request, s)
        # The API's own delete: cancels running tasks, removes the rows, then the files.
        api_projects.delete_project(owner, project, user=user, s=s, y=y)
    flash(request, f"Project {owner}/{project} was deleted.", "success")
    return redirect(f"/coprs/{owner}/")


# -- new build --------------------------------------------------------------------------------------
@router.get("/coprs/{owner}/{project}/add_build", response_class=HTMLResponse)
def new_build_form(owner: str, project: str, request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    user = require_user(request, s)
    p = P.get_project(s, owner, project)
    yard_of(request).builds.check_can_build(p, user)
    return render(request, "web/new_build.html", {
        "project": p, "tab": "new_build", "error": None, "access": permissions.access(p, user),
        "values": {"source": "upload", "url": "", "chroots": p.active_chroot_names(), "timeout": ""}})


@router.post("/coprs/{owner}/{project}/add_build", response_model=None)
async def submit_build(owner: str, project: str, request: Request) -> Response:
    y = yard_of(request)
    limit = y.settings.max_upload_mb * 1024 * 1024
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + 1024 * 1024:
        raise TooLarge(f"The upload is {int(length) // 2**20} MiB; the limit is {y.settings.max_upload_mb} MiB.")
    form = await request.form()
    check_csrf(request, form)
    values = {"source": str(form.get("source") or "upload"), "url": str(form.get("url") or "").strip(),
              "chroots": [str(c) for c in form.getlist("chroots")], "timeout": str(form.get("timeout") or "")}
    upload = form.get("pkg")
    tmpdir = Path(tempfile.mkdtemp(prefix="web-upload-", dir=_spool(y)))
    try:
        srpm: Path | None = None
        filename = ""
        if values["source"] == "upload" and upload is not None and getattr(upload, "filename", ""):
            filename = Path(str(upload.filename)).name  # type: ignore[union-attr]
            srpm = tmpdir / "upload.src.rpm"
            with open(srpm, "wb") as fh:
                await run_in_threadpool(shutil.copyfileobj, upload.file, fh, 1024 * 1024)  # type: ignore[union-attr]
        return await run_in_threadpool(_submit_build, owner, project, request, values, srpm, filename)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _spool(y: Yard) -> Path:
    y.settings.spool_dir.mkdir(parents=True, exist_ok=True)
    return y.settings.spool_dir


def _submit_build(owner: str, project: str, request: Request, values: dict[str, Any], srpm: Path | None,
                  filename: str) -> Response:
    y = yard_of(request)
    try:
        with y.db.session() as s:
            user = require_user(request, s)
            p = P.get_project(s, owner, project)
            if not values["chroots"]:
                raise BadRequest("chroots: choose at least one chroot to build in")
            opts = y.builds.options({"chroots": values["chroots"], "timeout": values["timeout"] or None})
            if values["source"] == "url":
                if not values["url"]:
                    raise BadRequest("URL: give the http(s) address of a source RPM")
                build = y.builds.submit_url(s, p, user, opts, values["url"])
                build_id = build.id
                queue.after_commit(s, lambda: y.fetcher.fetch_later(build_id))
            else:
                if srpm is None:
                    raise BadRequest("SRPM: choose a .src.rpm file to upload")
                build = y.builds.submit_upload(s, p, user, opts, srpm, filename)
                build_id = build.id
    except UserError as exc:
        if exc.status in (401, 404):
            raise
        with y.db.session() as s:
            p = P.get_project(s, owner, project)
            return render(request, "web/new_build.html", {
                "project": p, "tab": "new_build", "error": exc.message, "values": values,
                "access": access_of(request, s, p)},
                status_code=exc.status)
    flash(request, f"Build {build_id} was submitted.", "success")
    return redirect(f"/coprs/build/{build_id}/")
