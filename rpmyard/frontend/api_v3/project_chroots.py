"""A project's settings for one chroot: get, its build config (for mock-config), edit."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from rpmyard.builds import permissions
from rpmyard.builds import projects as P
from rpmyard.builds.errors import BadRequest, NotFound
from rpmyard.db.models import Project, ProjectChroot, User
from rpmyard.frontend.deps import body, current_user, session, yard
from rpmyard.yard import Yard

router = APIRouter()
LIST_FIELDS = {
    "additional_repos": "additional_repos",
    "additional_packages": "additional_packages",
    "additional_modules": "additional_modules",
    "with_opts": "with_opts",
    "without_opts": "without_opts",
}


def get_project_chroot(s: Session, owner: str, project: str, chroot: str) -> tuple[Project, ProjectChroot]:
    p = P.get_project(s, owner, project)
    for pc in p.chroots:
        if pc.mock_chroot.name == chroot:
            return p, pc
    raise NotFound(f"Chroot {chroot} is not enabled in {p.full_name}; enabled: "
                   f"{', '.join(p.active_chroot_names()) or '(none)'}")


def project_chroot_dict(p: Project, pc: ProjectChroot) -> dict[str, Any]:
    return {
        "mock_chroot": pc.mock_chroot.name, "ownername": p.owner.name, "projectname": p.name,
        "comps_name": pc.comps_name, "additional_repos": pc.additional_repos or [],
        "additional_packages": pc.additional_packages or [], "additional_modules": pc.additional_modules or [],
        "with_opts": pc.with_opts or [], "without_opts": pc.without_opts or [],
        "delete_after_days": pc.delete_after_days, "isolation": pc.isolation,
    }


@router.get("/api_3/project-chroot")
def get_one(ownername: str, projectname: str, chrootname: str, s: Session = Depends(session)) -> dict[str, Any]:
    return project_chroot_dict(*get_project_chroot(s, ownername, projectname, chrootname))


def _mock_repo_url(y: Yard, chroot: str, url: str) -> str:
    """A repo URL as mock needs it (Copr's pre_process_repo_url): ``copr://owner/project`` becomes that
    project's repository for the chroot; ``$chroot`` and ``$distname`` are expanded."""
    parsed = urlsplit(url)
    if parsed.scheme == "copr":
        url = y.layout.chroot_url(parsed.netloc, parsed.path.strip("/").split("/")[0], chroot)
    return url.replace("$chroot", chroot).replace("$distname", chroot.rsplit("-", 2)[0])


@router.get("/api_3/project-chroot/build-config")
def build_config(ownername: str, projectname: str, chrootname: str, s: Session = Depends(session),
                 y: Yard = Depends(yard)) -> dict[str, Any]:
    p, pc = get_project_chroot(s, ownername, projectname, chrootname)
    repos = [{"baseurl": y.layout.chroot_url(p.owner.name, p.name, chrootname), "id": "copr_base",
              "name": "Copr repository"}]
    repos += [{"baseurl": _mock_repo_url(y, chrootname, url), "id": f"copr_extra_{i}", "name": url}
              for i, url in enumerate([*(p.additional_repos or []), *(pc.additional_repos or [])])]
    return {
        "chroot": chrootname, "repos": repos,
        "additional_repos": [*(p.additional_repos or []), *(pc.additional_repos or [])],
        "additional_packages": pc.additional_packages or [], "additional_modules": pc.additional_modules or [],
        "enable_net": p.enable_net, "with_opts": pc.with_opts or [], "without_opts": pc.without_opts or [],
        "isolation": pc.isolation, "bootstrap": pc.bootstrap or p.bootstrap,
        "bootstrap_image": pc.bootstrap_image,
    }


@router.api_route("/api_3/project-chroot/edit/{ownername}/{projectname}/{chrootname}", methods=["PUT", "POST"])
async def edit(request: Request, ownername: str, projectname: str, chrootname: str,
               data: dict[str, Any] = Depends(body), user: User = Depends(current_user),
               s: Session = Depends(session)) -> dict[str, Any]:
    form = await request.form() if request.headers.get("content-type", "").startswith("multipart") else None
    comps = form.get("upload_comps") if form is not None else None
    # The database work runs in a thread: blocking the event loop on SQLite's lock would deadlock.
    return await run_in_threadpool(_edit, s, user, ownername, projectname, chrootname, data, comps)


def _edit(s: Session, user: User, ownername: str, projectname: str, chrootname: str, data: dict[str, Any],
          comps: Any) -> dict[str, Any]:
    p, pc = get_project_chroot(s, ownername, projectname, chrootname)
    permissions.require_edit(p, user)
    for field in P.as_list(data.get("reset_fields")):
        if field not in LIST_FIELDS and field not in ("isolation", "bootstrap", "bootstrap_image"):
            raise BadRequest(f"reset_fields: {field!r} cannot be reset")
        setattr(pc, field, [] if field in LIST_FIELDS else "unchanged" if field == "isolation" else None)
    for key, attr in LIST_FIELDS.items():
        if key in data:
            setattr(pc, attr, P.as_list(data[key]))
    if "isolation" in data:
        if data["isolation"] not in ("default", "simple", "nspawn", "unchanged"):
            raise BadRequest("isolation: must be one of default, simple, nspawn, unchanged")
        pc.isolation = data["isolation"]
    for key in ("bootstrap", "bootstrap_image"):
        if key in data:
            setattr(pc, key, data[key])
    if P.as_bool(data.get("delete_comps", False), "delete_comps"):
        pc.comps_name = None
    if comps is not None and hasattr(comps, "filename"):
        pc.comps_name = comps.filename
    return project_chroot_dict(p, pc)
