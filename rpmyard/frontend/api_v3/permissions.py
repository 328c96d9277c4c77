"""Project permissions as copr-cli's ``list-``, ``edit-`` and ``request-permissions`` call them.

Thin over :mod:`rpmyard.builds.permissions`, which holds the rule the web UI asks too. As on Copr,
listing and setting need edit rights, requesting only a login, and ``can_build_in`` none.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from rpmyard.builds import permissions
from rpmyard.builds import projects as P
from rpmyard.builds.errors import NotFound
from rpmyard.db.models import User
from rpmyard.frontend.deps import body, current_user, session

router = APIRouter()
PREFIX = "/api_3/project/permissions"


@router.get(PREFIX + "/can_build_in/{who}/{ownername}/{projectname}")
def can_build_in(who: str, ownername: str, projectname: str, s: Session = Depends(session)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    user = User.named(s, who)
    return {"who": who, "ownername": ownername, "projectname": projectname,
            "can_build_in": permissions.can_build(project, user)}


@router.get(PREFIX + "/get/{ownername}/{projectname}")
def get_permissions(ownername: str, projectname: str, user: User = Depends(current_user),
                    s: Session = Depends(session)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    permissions.require_edit(project, user)
    listing = permissions.listing(project)
    if not listing:  # Copr answers 404 here, and copr-cli prints its message
        raise NotFound(f"No permissions set on {project.full_name} project")
    return {"permissions": listing}


@router.api_route(PREFIX + "/set/{ownername}/{projectname}", methods=["PUT", "POST"])
def set_permissions(ownername: str, projectname: str, data: dict[str, Any] = Depends(body),
                    user: User = Depends(current_user), s: Session = Depends(session)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    return {"updated": permissions.set_roles(s, project, user, data)}


@router.api_route(PREFIX + "/request/{ownername}/{projectname}", methods=["PUT", "POST"])
def request_permissions(ownername: str, projectname: str, data: dict[str, Any] = Depends(body),
                        user: User = Depends(current_user), s: Session = Depends(session)) -> dict[str, Any]:
    project = P.get_project(s, ownername, projectname)
    return {"updated": permissions.request_roles(project, user, data)}
