"""Packages: created from builds; listed and read as Copr's client expects."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import permissions, states
from rpmyard.builds import projects as P
from rpmyard.builds.errors import BadRequest, NotFound
from rpmyard.builds.layout import Layout
from rpmyard.builds.service import BuildService
from rpmyard.db.models import Build, Package, Project, User
from rpmyard.frontend.deps import body, current_user, session, yard
from rpmyard.frontend.pagination import paginate
from rpmyard.frontend.schemas import build_dict, package_dict
from rpmyard.publish import lifecycle
from rpmyard.yard import Yard

router = APIRouter()


def _builds(s: Session, pkg: Package, layout: Layout, latest: bool, succeeded: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"latest": None, "latest_succeeded": None}
    if not (latest or succeeded):
        return out
    rows = s.scalars(select(Build).where(Build.package_id == pkg.id).order_by(Build.id.desc()))
    for b in rows:
        if latest and out["latest"] is None:
            out["latest"] = build_dict(b, layout)
        if succeeded and out["latest_succeeded"] is None and BuildService.state(b) == states.SUCCEEDED:
            out["latest_succeeded"] = build_dict(b, layout)
        if (not latest or out["latest"]) and (not succeeded or out["latest_succeeded"]):
            break
    return out


def _flag(value: str | None) -> bool:
    return P.as_bool(value or "False", "flag")


@router.get("/api_3/package")
def get_one(ownername: str, projectname: str, packagename: str, with_latest_build: str | None = None,
            with_latest_succeeded_build: str | None = None, s: Session = Depends(session),
            y: Yard = Depends(yard)) -> dict[str, Any]:
    project: Project = P.get_project(s, ownername, projectname)
    pkg = s.scalar(select(Package).where(Package.project_id == project.id, Package.name == packagename))
    if pkg is None:
        raise NotFound(f"No package {packagename} found in {project.full_name}.")
    builds = _builds(s, pkg, y.layout, _flag(with_latest_build), _flag(with_latest_succeeded_build))
    return package_dict(pkg, project, builds)


@router.get("/api_3/package/list")
def get_list(request: Request, ownername: str, projectname: str, with_latest_build: str | None = None,
             with_latest_succeeded_build: str | None = None, s: Session = Depends(session),
             y: Yard = Depends(yard)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    q = select(Package).where(Package.project_id == project.id)
    items, meta = paginate(s, request, q, {"id": Package.id, "name": Package.name})
    latest, succeeded = _flag(with_latest_build), _flag(with_latest_succeeded_build)
    return {"items": [package_dict(p, project, _builds(s, p, y.layout, latest, succeeded)) for p in items],
            "meta": meta}


@router.post("/api_3/package/add/{ownername}/{projectname}/{packagename}/{source_type}")
def add(source_type: str) -> dict[str, Any]:
    raise BadRequest(f"Packages with a {source_type} source are not supported by this rpmyard instance yet; "
                     "packages are created by building an SRPM.")


@router.api_route("/api_3/package/delete", methods=["DELETE", "POST"])
def delete(data: dict[str, Any] = Depends(body), user: User = Depends(current_user), s: Session = Depends(session),
           y: Yard = Depends(yard)) -> dict[str, Any]:
    """``copr-cli delete-package``: the package, all its builds, and its files in the repositories."""
    owner, name, pkg_name = data.get("ownername"), data.get("projectname"), data.get("package_name")
    if not owner or not name or not pkg_name:
        raise BadRequest("ownername, projectname and package_name are required")
    project = P.get_project(s, str(owner), str(name))
    permissions.require_edit(project, user)
    pkg = s.scalar(select(Package).where(Package.project_id == project.id, Package.name == str(pkg_name)))
    if pkg is None:
        raise NotFound(f"No package {pkg_name} found in {project.full_name}.")
    result = package_dict(pkg, project, {"latest": None, "latest_succeeded": None})
    lifecycle.delete_package(s, project, pkg, y.layout, y.publisher)
    return result
