"""Who may do what in a project: the one rule the API, copr-cli and the web UI all ask.

Copr's model. A project's owner and the site's administrators (``User.is_admin``) may do
everything. Any other user can hold two roles in a project, each ``nothing``, ``request`` (asked
for, not granted) or ``approved``; only ``approved`` grants anything:

- ``builder``: submit, rebuild, cancel and delete builds;
- ``admin``: everything the owner can: settings, chroots, packages, permissions, deleting it.

Owners and project admins set anyone's roles. Everyone else may only ask for a role or give one up
(``request`` / ``nothing``), so nobody can approve themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from rpmyard.builds.errors import BadRequest, Forbidden
from rpmyard.db.models import PERMISSION_STATES, Project, ProjectPermission, User

ROLES = ("admin", "builder")
STATES = PERMISSION_STATES
NOTHING, REQUEST, APPROVED = STATES


# -- the rule -------------------------------------------------------------------------------------
def state_of(project: Project, user: User, role: str) -> str:
    for row in project.permissions:
        if row.user_id == user.id:
            return str(getattr(row, role))
    return NOTHING


def can_edit(project: Project, user: User | None) -> bool:
    """Settings, chroots, packages, permissions, deleting the project."""
    if user is None:
        return False
    return user.id == project.owner_id or user.is_admin or state_of(project, user, "admin") == APPROVED


def can_build(project: Project, user: User | None) -> bool:
    """Submitting, rebuilding, cancelling and deleting builds."""
    return can_edit(project, user) or (user is not None and state_of(project, user, "builder") == APPROVED)


def require_edit(project: Project, user: User) -> None:
    if not can_edit(project, user):
        raise Forbidden(f"Only the owner and admins of {project.full_name} can do that; you are {user.name}.")


def require_build(project: Project, user: User) -> None:
    if not can_build(project, user):
        raise Forbidden(f"You ({user.name}) are not allowed to build in {project.full_name}. Ask for the "
                        f"builder role: copr-cli request-permissions {project.full_name} --builder")


def require_create_for(user: User, owner: str) -> None:
    """Projects are created under one's own name; site administrators may create them for anyone."""
    if owner != user.name and not user.is_admin:
        raise Forbidden(f"You ({user.name}) cannot create projects for {owner}.")


@dataclass(frozen=True)
class Access:
    """What one visitor may do in one project: which buttons, tabs and forms a page shows."""

    can_build: bool
    can_edit: bool
    can_request: bool  # logged in and not the owner: may ask for a role or give one up


def access(project: Project, user: User | None) -> Access:
    return Access(can_build=can_build(project, user), can_edit=can_edit(project, user),
                  can_request=user is not None and user.id != project.owner_id)


# -- reading and changing roles -------------------------------------------------------------------
def listing(project: Project) -> dict[str, dict[str, str]]:
    """Every user with a row, by name: ``{name: {"admin": state, "builder": state}}`` (Copr's shape)."""
    rows = sorted(project.permissions, key=lambda row: row.user.name)
    return {row.user.name: {"admin": row.admin, "builder": row.builder} for row in rows}


def _row(project: Project, user: User) -> ProjectPermission:
    for row in project.permissions:
        if row.user_id == user.id:
            return row
    row = ProjectPermission(user_id=user.id, user=user, admin=NOTHING, builder=NOTHING)
    project.permissions.append(row)
    return row


def _apply(project: Project, user: User, roles: dict[str, str]) -> bool:
    """Set the roles; True if any changed. A row is only created when something changes."""
    if all(state_of(project, user, role) == state for role, state in roles.items()):
        return False
    row = _row(project, user)
    for role, state in roles.items():
        setattr(row, role, state)
    return True


def _check_roles(name: str, roles: Any, allowed: tuple[Any, ...], example: str) -> None:
    if not isinstance(roles, dict) or not roles:
        raise BadRequest(f"{name}: expected roles like {{'builder': {example}}}, got {roles!r}")
    for role, state in roles.items():
        if role not in ROLES:
            raise BadRequest(f"{name}: unknown role {role!r}; the roles are {', '.join(ROLES)}")
        if type(state) is not type(allowed[0]) or state not in allowed:  # 1 is no True, "True" no state
            raise BadRequest(f"{name}: {role} cannot be {state!r}; use one of {', '.join(map(str, allowed))}")


def set_roles(s: Session, project: Project, actor: User, changes: Any) -> list[str]:
    """Copr's set_permissions: ``{user: {role: state}}``, all or nothing. Returns whose roles changed.

    A role left out keeps its state (``nothing`` for a new row). Everything is checked before
    anything is written, so one bad user name changes nothing for the others either.
    """
    require_edit(project, actor)
    if not isinstance(changes, dict) or not changes:
        raise BadRequest("no permission change requested; expected {'username': {'builder': 'approved'}}")
    plan: list[tuple[User, dict[str, str]]] = []
    for name, roles in changes.items():
        user = User.named(s, str(name))
        if user is None:
            raise BadRequest(f"User '{name}' does not exist; no permission was changed.")
        if user.id == project.owner_id:
            raise BadRequest(f"{name} owns {project.full_name}; the owner's rights cannot be changed.")
        _check_roles(str(name), roles, STATES, "'approved'")
        plan.append((user, roles))
    return [user.name for user, roles in plan if _apply(project, user, roles)]


def request_roles(project: Project, user: User, wanted: Any) -> bool:
    """Copr's request_permissions: ``{role: True}`` asks for a role, ``{role: False}`` cancels the
    request or gives the role up. Returns whether anything changed."""
    if user.id == project.owner_id:
        raise BadRequest(f"You own {project.full_name}: the owner has every right already.")
    _check_roles("request", wanted, (True, False), "True")
    for role, want in wanted.items():
        if want and state_of(project, user, role) == APPROVED:
            raise BadRequest(f"You already are {role} in {project.full_name}.")
    return _apply(project, user, {role: REQUEST if want else NOTHING for role, want in wanted.items()})
