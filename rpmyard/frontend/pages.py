"""Plain pages at Copr's URLs, so the links copr-cli prints open something useful."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import projects as P
from rpmyard.builds import states
from rpmyard.builds.errors import NotFound
from rpmyard.builds.service import BuildService
from rpmyard.db.models import Build, Project
from rpmyard.dispatch.models import Task
from rpmyard.frontend.deps import session, yard
from rpmyard.frontend.templating import templates
from rpmyard.yard import Yard

router = APIRouter()


@router.get("/", response_model=None)
def root() -> Response:
    return RedirectResponse("/coprs/")


@router.get("/coprs", response_class=HTMLResponse)
def home(request: Request, s: Session = Depends(session)) -> HTMLResponse:
    projects = s.scalars(select(Project).where(Project.unlisted_on_hp.is_(False)).order_by(Project.id.desc())
                         .limit(100)).all()
    return templates.TemplateResponse(request, "home.html", {"projects": projects})


@router.get("/coprs/build/{build_id}", response_class=HTMLResponse)
def build_page(build_id: int, request: Request, s: Session = Depends(session),
               y: Yard = Depends(yard)) -> HTMLResponse:
    build = s.get(Build, build_id)
    if build is None:
        raise NotFound(f"Build {build_id} does not exist.")
    p = build.project
    rows = []
    for bc in build.chroots:
        reason = bc.reason
        if bc.state == states.PENDING and bc.task_id and not reason:
            task = s.get(Task, bc.task_id)
            reason = task.wait_reason if task else ""
        url = (y.layout.build_url(p.owner.name, p.name, bc.name, build.id, build.pkg_name)
               if build.pkg_name and bc.state not in (states.WAITING, states.SKIPPED) else None)
        rows.append({"bc": bc, "reason": reason, "url": url})
    code = BuildService.state(build)
    return templates.TemplateResponse(request, "build.html", {
        "build": build, "chroots": rows, "state": states.NAMES[code], "state_code": code})


@router.get("/coprs/{owner}/{project}", response_class=HTMLResponse)
def project_page(owner: str, project: str, request: Request, s: Session = Depends(session),
                 y: Yard = Depends(yard)) -> HTMLResponse:
    p = P.get_project(s, owner, project)
    builds = s.scalars(select(Build).where(Build.project_id == p.id).order_by(Build.id.desc()).limit(50)).all()
    releases = sorted({c.rsplit("-", 1)[0] for c in p.active_chroot_names()})
    rows = [{"id": b.id, "pkg_name": b.pkg_name, "pkg_version": b.pkg_version,
             "state": states.NAMES[BuildService.state(b)], "submitted_on": b.submitted_on} for b in builds]
    return templates.TemplateResponse(request, "project.html", {
        "project": p, "builds": rows, "releases": releases, "base_url": y.settings.base_url})
