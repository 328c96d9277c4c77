"""Project options of the repository lifecycle, parsed where the API accepts them.

Kept apart from ``lifecycle`` so that ``rpmyard.builds.projects`` can use them without importing
the build service (which imports ``rpmyard.builds.projects``).
"""

from __future__ import annotations

from typing import Any

from rpmyard.builds.errors import BadRequest
from rpmyard.db.base import now
from rpmyard.db.models import Project

KEEP_BUILDS = "keep_builds"
DELETE_AFTER = "delete_after"
DAY = 86400


def parse_keep_builds(value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"keep_builds: must be a whole number (0 keeps every build), not {value!r}") from None
    if n < 0:
        raise BadRequest("keep_builds: must be 0 (keep every build) or more")
    return n


def apply_delete_after_days(project: Project, options: dict[str, Any], value: Any) -> None:
    """Copr's rule: N days from now (0: at the next cleanup); -1 or empty: never."""
    if value in ("", -1, "-1"):
        project.delete_after_days = None
        options.pop(DELETE_AFTER, None)
        return
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"delete_after_days: must be a number of days (-1: never), not {value!r}") from None
    if days < 0:
        raise BadRequest("delete_after_days: must be 0 or more (-1: never)")
    project.delete_after_days = days
    options[DELETE_AFTER] = now() + days * DAY


def delete_after(project: Project) -> int | None:
    """When the project is due for deletion (epoch seconds), or None."""
    if project.delete_after_days is None:
        return None
    at = (project.options or {}).get(DELETE_AFTER)
    return int(at) if at is not None else int(project.created_on) + project.delete_after_days * DAY


def remaining_days(project: Project) -> int | None:
    at = delete_after(project)
    return None if at is None else max(0, -(-(at - now()) // DAY))  # 5 right after setting 5
