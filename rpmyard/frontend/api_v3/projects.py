"""Projects: get, list, search, add, edit, delete, regenerate-repos (permissions: ``permissions.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from rpmyard.builds import permissions
from rpmyard.builds import projects as P
from rpmyard.builds.errors import BadRequest
from rpmyard.builds.events import project_event
from rpmyard.db.models import Project, User
from rpmyard.dispatch import queue
from rpmyard.frontend.deps import body, current_user, session, yard
from rpmyard.frontend.pagination import paginate
from rpmyard.frontend.schemas import project_dict
from rpmyard.publish import lifecycle
from rpmyard.yard import Yard

router = APIRouter()
ORDER = {"id": Project.id, "name": Project.name}


def _publish_empty_repos(y: Yard, s: Session, project: Project, *, full: bool = False) -> None:
    """Every enabled chroot gets (possibly empty) repodata at once, so `dnf copr enable` works.

    ``full``: re-check every build directory (regenerate-repos). The lifecycle thread is woken too:
    ``keep_builds`` or ``delete_after_days`` may just have changed.
    """
    dirs = [y.layout.chroot_dir(project.owner.name, project.name, c) for c in project.active_chroot_names()]

    def publish() -> None:
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)  # the publisher takes a missing directory for a deleted project
            y.publisher.request(d, full=full)

    queue.after_commit(s, publish)
    queue.after_commit(s, y.lifecycle.wake)


@router.get("/api_3/project")
def get_project(ownername: str, projectname: str, s: Session = Depends(session),
                y: Yard = Depends(yard)) -> dict[str, Any]:
    return project_dict(P.get_project(s, ownername, projectname), y.layout)


@router.get("/api_3/project/list")
def list_projects(request: Request, ownername: str | None = None, s: Session = Depends(session),
                  y: Yard = Depends(yard)) -> dict[str, Any]:
    q = select(Project).join(User, Project.owner_id == User.id)
    if ownername:
        if ownername.startswith("@"):
            raise BadRequest("group projects are not supported by this instance")
        q = q.where(User.name == ownername)
    items, meta = paginate(s, request, q, ORDER)
    return {"items": [project_dict(p, y.layout) for p in items], "meta": meta}


@router.get("/api_3/project/search")
def search_projects(request: Request, query: str = "", s: Session = Depends(session),
                    y: Yard = Depends(yard)) -> dict[str, Any]:
    if not query.strip():
        raise BadRequest("query: a search term is required")
    like = f"%{query.strip()}%"
    q = (select(Project).join(User, Project.owner_id == User.id)
         .where(or_(Project.name.ilike(like), Project.description.ilike(like), User.name.ilike(like))))
    items, meta = paginate(s, request, q, ORDER)
    return {"items": [project_dict(p, y.layout) for p in items], "meta": meta}


@router.post("/api_3/project/add/{ownername}")
def add_project(request: Request, ownername: str, data: dict[str, Any] = Depends(body),
                user: User = Depends(current_user), s: Session = Depends(session),
                y: Yard = Depends(yard)) -> dict[str, Any]:
    if ownername.startswith("@"):
        raise BadRequest("group projects are not supported by this instance")
    permissions.require_create_for(user, ownername)
    owner = User.named(s, ownername)
    if owner is None:
        raise BadRequest(f"user {ownername} does not exist")
    exist_ok = P.as_bool(request.query_params.get("exist_ok", "False"), "exist_ok")
    known = exist_ok and P.find_project(s, owner, str(data.get("name", "")))
    project = P.create_project(s, owner, data, exist_ok=exist_ok)
    if not known:
        project_event(s, "created", project)
    _publish_empty_repos(y, s, project)
    return project_dict(project, y.layout)


@router.api_route("/api_3/project/edit/{ownername}/{projectname}", methods=["PUT", "POST"])
def edit_project(ownername: str, projectname: str, data: dict[str, Any] = Depends(body),
                 user: User = Depends(current_user), s: Session = Depends(session),
                 y: Yard = Depends(yard)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    permissions.require_edit(project, user)
    P.apply_fields(s, project, data, repos_key="repos")
    s.flush()
    _publish_empty_repos(y, s, project)
    return project_dict(project, y.layout)


@router.api_route("/api_3/project/delete/{ownername}/{projectname}", methods=["DELETE", "POST"])
def delete_project(ownername: str, projectname: str, user: User = Depends(current_user),
                   s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    permissions.require_edit(project, user)
    result = project_dict(project, y.layout)
    lifecycle.delete_project(s, project, y.layout)
    return result


@router.api_route("/api_3/project/regenerate-repos/{ownername}/{projectname}", methods=["PUT", "POST"])
def regenerate_repos(ownername: str, projectname: str, user: User = Depends(current_user),
                     s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    permissions.require_edit(project, user)
    _publish_empty_repos(y, s, project, full=True)
    return project_dict(project, y.layout)

