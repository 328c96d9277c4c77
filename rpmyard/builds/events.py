"""The build service's events (schema in the README): what changed, for outside consumers.

Emitted through the dispatch outbox in the transaction that makes the change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rpmyard.builds import states
from rpmyard.db.models import Build, BuildChroot, Project
from rpmyard.dispatch.events import emit


def _build_body(build: Build) -> dict[str, Any]:
    p = build.project
    return {"build_id": build.id, "owner": p.owner.name, "project": p.name, "package": build.pkg_name,
            "version": build.pkg_version, "submitter": build.submitter.name if build.submitter else None}


def build_submitted(s: Session, build: Build) -> None:
    emit(s, "build.new", {**_build_body(build), "chroots": [bc.name for bc in build.chroots]})


def chroot_changed(s: Session, bc: BuildChroot, before: int) -> None:
    """``build.start`` when a chroot starts running, ``build.end`` when it reaches a final state."""
    if bc.state == before:
        return
    body = {**_build_body(bc.build), "chroot": bc.name, "state": states.NAMES[bc.state], "status": bc.state}
    if bc.state == states.RUNNING:
        emit(s, "build.start", body)
    elif bc.state in states.FINISHED and before not in states.FINISHED:
        emit(s, "build.end", {**body, "reason": bc.reason})


def project_event(s: Session, what: str, project: Project) -> None:
    emit(s, f"project.{what}", {"owner": project.owner.name, "project": project.name,
                                "chroots": project.active_chroot_names()})
