"""Projects and their chroots: validation and the create/edit/delete rules Copr applies."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds.errors import BadRequest, Conflict, NotFound
from rpmyard.db.models import MockChroot, Project, ProjectChroot, User
from rpmyard.publish.options import KEEP_BUILDS, apply_delete_after_days, parse_keep_builds

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")

# Project fields copr-cli sends that map onto columns, and their parsers.
_BOOL_FIELDS = (
    "unlisted_on_hp", "enable_net", "persistent", "auto_prune", "devel_mode", "module_hotfixes",
    "appstream", "follow_fedora_branching",
)
_TEXT_FIELDS = ("description", "instructions", "homepage", "contact")
_CHOICE_FIELDS = {
    "bootstrap": ("default", "on", "off", "image", "untouched"),
    "isolation": ("default", "simple", "nspawn", "unchanged"),
}
_OPTION_FIELDS = (
    "multilib", "fedora_review", "runtime_dependencies", "packit_forge_projects_allowed",
    "bootstrap_image", "storage",
)


def as_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "on", "yes", "1", "y"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "off", "no", "0", "n", ""):
        return False
    if isinstance(value, int):
        return bool(value)
    raise BadRequest(f"{field}: not a valid boolean: {value!r}")


def as_list(value: Any) -> list[str]:
    """Copr accepts lists or space/comma separated strings for list fields."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in re.split(r"[\s,]+", value) if v]
    return [str(v) for v in value if v]


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise BadRequest("name: this field is required")
    if not NAME_RE.match(name):
        raise BadRequest(
            f"name: {name!r} is not a valid project name: use letters, digits, '.', '_', '+' and '-' "
            "(no spaces or '/'), at most 100 characters, starting with a letter or digit"
        )
    return name


def active_chroots(s: Session) -> list[MockChroot]:
    return list(s.scalars(select(MockChroot).where(MockChroot.is_active.is_(True)).order_by(MockChroot.name)))


def resolve_chroots(s: Session, patterns: list[str], *, allowed: list[str] | None = None) -> list[MockChroot]:
    """Expand fnmatch patterns against the active chroots (or ``allowed``); unknown names are errors."""
    pool = active_chroots(s)
    if allowed is not None:
        pool = [c for c in pool if c.name in allowed]
    chosen: dict[str, MockChroot] = {}
    for pattern in patterns:
        hits = [c for c in pool if fnmatch.fnmatchcase(c.name, pattern)]
        if not hits:
            valid = ", ".join(c.name for c in pool) or "(none)"
            raise BadRequest(f"chroots: '{pattern}' is not a valid chroot here. Valid chroots: {valid}")
        chosen.update({c.name: c for c in hits})
    return [chosen[k] for k in sorted(chosen)]


def find_project(s: Session, owner: User, name: str) -> Project | None:
    return s.scalar(select(Project).where(Project.owner_id == owner.id, Project.name == name))


def get_project(s: Session, owner: str, name: str) -> Project:
    project = s.scalar(select(Project).join(User, Project.owner_id == User.id)
                       .where(User.name == owner, Project.name == name))
    if project is None:
        raise NotFound(f"Project {owner}/{name} does not exist.")
    return project


def apply_fields(s: Session, project: Project, data: dict[str, Any], *, repos_key: str) -> None:
    for f in _TEXT_FIELDS:
        if data.get(f) is not None:
            setattr(project, f, str(data[f]))
    for f in _BOOL_FIELDS:
        if data.get(f) is not None:
            setattr(project, f, as_bool(data[f], f))
    for f, choices in _CHOICE_FIELDS.items():
        if data.get(f) is not None:
            if data[f] not in choices:
                raise BadRequest(f"{f}: must be one of {', '.join(choices)}")
            setattr(project, f, data[f])
    if data.get(repos_key) is not None:
        project.additional_repos = as_list(data[repos_key])
    for f in ("repo_priority",):
        if data.get(f) not in (None, ""):
            try:
                setattr(project, f, int(data[f]))
            except (TypeError, ValueError):
                raise BadRequest(f"{f}: must be a number") from None
    options = dict(project.options or {})
    for f in _OPTION_FIELDS:
        if data.get(f) is not None:
            options[f] = data[f]
    if data.get("delete_after_days") is not None:  # repository lifecycle (rpmyard.publish.options)
        apply_delete_after_days(project, options, data["delete_after_days"])
    if data.get(KEEP_BUILDS) not in (None, ""):
        options[KEEP_BUILDS] = parse_keep_builds(data[KEEP_BUILDS])
    project.options = options
    if data.get("chroots") is not None:
        set_chroots(s, project, as_list(data["chroots"]))


def set_chroots(s: Session, project: Project, patterns: list[str]) -> list[str]:
    """Make the project's chroots exactly these; returns the names that were added."""
    wanted = {c.name: c for c in resolve_chroots(s, patterns)}
    have = {pc.mock_chroot.name: pc for pc in project.chroots}
    for name, pc in have.items():
        if name not in wanted:
            project.chroots.remove(pc)
    added = [name for name in wanted if name not in have]
    for name in added:
        project.chroots.append(ProjectChroot(mock_chroot=wanted[name]))
    return added


def create_project(s: Session, owner: User, data: dict[str, Any], *, exist_ok: bool = False) -> Project:
    name = check_name(data.get("name"))
    existing = s.scalar(select(Project).where(Project.owner_id == owner.id, Project.name == name))
    if existing is not None:
        if exist_ok:
            return existing
        raise Conflict(f"You already have a project named '{name}'.")
    if not as_list(data.get("chroots")):
        raise BadRequest("chroots: at least one chroot must be selected")
    project = Project(owner=owner, name=name, owner_id=owner.id, additional_repos=[], options={})
    s.add(project)
    apply_fields(s, project, data, repos_key="additional_repos")
    s.flush()
    return project

