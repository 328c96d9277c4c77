"""The project's Permissions page, at Copr's URL ``/coprs/<owner>/<project>/permissions/``.

Owners and project admins see every user's roles and change them; any other logged-in user asks
for a role or gives one up. Both forms go through :mod:`rpmyard.builds.permissions`, the rule the
API applies, so the page can do exactly what copr-cli can. A refused change is shown on the page
with what was chosen, and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from rpmyard.builds import permissions
from rpmyard.builds import projects as P
from rpmyard.builds.errors import BadRequest, UserError
from rpmyard.db.models import Project, User
from rpmyard.frontend.web.common import check_csrf, flash, read_session, redirect, render, require_user, yard_of

router = APIRouter()
LABELS = {"nothing": "None", "request": "Requested", "approved": "Approved"}


def _context(project: Project, user: User, *, error: str | None = None,
             chosen: dict[str, dict[str, str]] | None = None, new: dict[str, str] | None = None) -> dict[str, Any]:
    """``chosen`` and ``new``: what the refused form asked for, shown again instead of the saved state."""
    acc = permissions.access(project, user)
    saved = permissions.listing(project) if acc.can_edit else {}
    shown = {name: {**roles, **(chosen or {}).get(name, {})} for name, roles in saved.items()}
    return {
        "project": project, "tab": "permissions", "access": acc, "rows": shown, "saved": saved, "error": error,
        "roles": permissions.ROLES, "states": permissions.STATES, "labels": LABELS,
        "requests": [(name, role) for name, roles in saved.items() for role, state in roles.items()
                     if state == permissions.REQUEST],
        "mine": {role: permissions.state_of(project, user, role) for role in permissions.ROLES},
        "new": new or {"user": "", "admin": permissions.NOTHING, "builder": permissions.APPROVED},
    }


@router.get("/coprs/{owner}/{project}/permissions", response_class=HTMLResponse)
def permissions_page(owner: str, project: str, request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    user = require_user(request, s)
    return render(request, "web/permissions.html", _context(P.get_project(s, owner, project), user))


def _changes(form: Any) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The roles the owner changed (``ROLE:USER`` selects that differ from their ``was:`` field),
    plus the "add a user" row when a name was typed."""
    changes: dict[str, dict[str, str]] = {}
    for key, value in form.multi_items():
        role, _, name = str(key).partition(":")
        if role in permissions.ROLES and name and value != form.get(f"was:{role}:{name}"):
            changes.setdefault(name, {})[role] = str(value)
    new = {"user": str(form.get("new_user") or "").strip()}
    new.update({role: str(form.get(f"new_{role}") or permissions.NOTHING) for role in permissions.ROLES})
    if new["user"]:
        changes[new["user"]] = {role: new[role] for role in permissions.ROLES}
    return changes, new


@router.post("/coprs/{owner}/{project}/permissions", response_model=None)
async def save(owner: str, project: str, request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    changes, new = _changes(form)
    return await run_in_threadpool(_save, owner, project, request, changes, new)


def _save(owner: str, project: str, request: Request, changes: dict[str, dict[str, str]],
          new: dict[str, str]) -> Response:
    y = yard_of(request)
    page = f"/coprs/{owner}/{project}/permissions/"
    try:
        with y.db.session() as s:
            user = require_user(request, s)
            p = P.get_project(s, owner, project)
            permissions.require_edit(p, user)
            if not changes:
                flash(request, "Nothing to save: change a role or type the name of a user to add.", "info")
                return redirect(page)
            updated = permissions.set_roles(s, p, user, changes)
    except UserError as exc:
        if exc.status in (401, 403, 404):
            raise
        with y.db.read_session() as s:
            user, p = require_user(request, s), P.get_project(s, owner, project)
            return render(request, "web/permissions.html",
                          _context(p, user, error=exc.message, chosen=changes, new=new), status_code=exc.status)
    flash(request, f"Saved: new roles for {', '.join(updated)}." if updated else "Nothing changed.", "success")
    return redirect(page)


@router.post("/coprs/{owner}/{project}/permissions/request", response_model=None)
async def ask(owner: str, project: str, request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    role, want = str(form.get("role") or ""), str(form.get("want") or "")
    return await run_in_threadpool(_ask, owner, project, request, role, want)


def _ask(owner: str, project: str, request: Request, role: str, want: str) -> Response:
    y = yard_of(request)
    try:
        if want not in (permissions.REQUEST, permissions.NOTHING):
            raise BadRequest(f"want: must be {permissions.REQUEST} or {permissions.NOTHING}, not {want!r}")
        with y.db.session() as s:
            user = require_user(request, s)
            p = P.get_project(s, owner, project)
            before = permissions.state_of(p, user, role) if role in permissions.ROLES else ""
            changed = permissions.request_roles(p, user, {role: want == permissions.REQUEST})
            full_name = p.full_name
    except UserError as exc:
        if exc.status in (401, 404):
            raise
        flash(request, exc.message, "error")
        return redirect(f"/coprs/{owner}/{project}/permissions/")
    if not changed:
        message = f"Nothing changed: your {role} role in {full_name} is already “{LABELS[before]}”."
    elif want == permissions.REQUEST:
        message = f"You asked for the {role} role in {full_name}; its owner or an admin can approve it."
    elif before == permissions.APPROVED:
        message = f"You gave up the {role} role in {full_name}."
    else:
        message = f"Your request for the {role} role in {full_name} was withdrawn."
    flash(request, message, "success" if changed else "info")
    return redirect(f"/coprs/{owner}/{project}/permissions/")
