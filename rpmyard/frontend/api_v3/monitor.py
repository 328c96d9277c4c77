"""The project monitor: the latest build of each package in each chroot."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import projects as P
from rpmyard.builds import states
from rpmyard.builds.errors import BadRequest
from rpmyard.db.models import Build
from rpmyard.frontend.deps import session, yard
from rpmyard.yard import Yard

router = APIRouter()
EXTRA_FIELDS = ("url_build_log", "url_backend_log", "url_build")


@router.get("/api_3/monitor")
def monitor(request: Request, ownername: str, projectname: str, project_dirname: str | None = None,
            s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    if project_dirname and project_dirname != projectname:
        raise BadRequest(f"project_dirname: custom directories ({project_dirname}) are not supported here")
    extra = request.query_params.getlist("additional_fields[]") + request.query_params.getlist("additional_fields")
    unknown = [f for f in extra if f not in EXTRA_FIELDS]
    if unknown:
        raise BadRequest(f"additional_fields: unknown field(s) {', '.join(unknown)}")
    packages: dict[str, dict[str, Any]] = {}
    builds = s.scalars(select(Build).where(Build.project_id == project.id, Build.pkg_name.is_not(None))
                       .order_by(Build.id.desc()))
    for b in builds:
        chroots = packages.setdefault(str(b.pkg_name), {})
        for bc in b.chroots:
            if bc.name in chroots:
                continue
            entry: dict[str, Any] = {"state": states.NAMES[bc.state], "status": bc.state, "build_id": b.id,
                                     "pkg_version": b.pkg_version}
            url = y.layout.build_url(ownername, projectname, bc.name, b.id, str(b.pkg_name))
            if "url_build_log" in extra:
                entry["url_build_log"] = url + "builder-live.log"
            if "url_backend_log" in extra:
                entry["url_backend_log"] = url + "backend.log"
            if "url_build" in extra:
                entry["url_build"] = f"{y.settings.base_url}/coprs/build/{b.id}/"
            chroots[bc.name] = entry
    return {"output": "ok", "message": "Project monitor request successful",
            "packages": [{"name": n, "chroots": c} for n, c in sorted(packages.items())]}
