"""The server side of the ``rpm-build`` task kind: logs, state mirroring, importing results.

Every transition of a task is mirrored onto its build chroot. A succeeded task's uploads are
checked, moved into the Copr result directory and published; only once the repository holds them
does the chroot turn ``succeeded``, so a user who sees success can install at once.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Hashable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import events, states
from rpmyard.builds.errors import NotFound
from rpmyard.builds.layout import Layout, build_dirname
from rpmyard.builds.rpmfiles import BadRpm, read_nevras
from rpmyard.builds.service import BuildService
from rpmyard.db.base import now
from rpmyard.db.engine import Database
from rpmyard.db.models import Build, BuildChroot, Project
from rpmyard.dispatch import models as task_states
from rpmyard.dispatch.models import Task
from rpmyard.dispatch.queue import after_commit
from rpmyard.publish import lifecycle
from rpmyard.publish.repodata import Publisher

log = logging.getLogger(__name__)

LOG_STREAMS = {"builder-live": "builder-live.log", "backend": "backend.log"}
PUBLISHING = "publishing to the repository"


class RpmBuildHooks:
    def __init__(self, db: Database, layout: Layout, publisher: Publisher, service: BuildService) -> None:
        self.db = db
        self.layout = layout
        self.publisher = publisher
        self.service = service

    def result_dir(self, task: Task) -> Path:
        p = task.payload
        return self.layout.build_dir(p["owner"], p["project"], p["chroot"], p["build_id"], p["pkg_name"])

    def log_path(self, session: Session, task: Task, stream: str) -> Path | None:
        name = LOG_STREAMS.get(stream)
        if name is None:
            return None
        bc = session.get(BuildChroot, task.payload["build_chroot_id"])
        if bc is None or bc.task_id != task.id:
            # Deleted while its canceled task winds down: writing would recreate the removed directory.
            raise NotFound(f"the build of task {task.id} was deleted; its log is no longer kept")
        return make_build_dir(self.result_dir(task)) / name

    def on_state(self, session: Session, task: Task, files_dir: Path) -> None:
        if task.state in task_states.FINAL_STATES:
            # Its uploads are imported by now (or useless): drop the staging, with earlier attempts'.
            after_commit(session, lambda task_id=task.id: _drop_staging(files_dir, task_id))
        bc = session.get(BuildChroot, task.payload["build_chroot_id"])
        if bc is None or bc.task_id != task.id:
            return  # the build was deleted meanwhile
        build = bc.build
        before = bc.state
        if task.state == task_states.PENDING:
            if bc.state not in states.FINISHED:
                bc.state = states.PENDING
                bc.reason = task.wait_reason
        elif task.state == task_states.RUNNING:
            bc.state = states.RUNNING
            bc.reason = ""
            bc.started_on = bc.started_on or now()
            build.started_on = build.started_on or bc.started_on
        elif task.state == task_states.SUCCEEDED:
            self._import(session, task, bc, files_dir)
        elif task.state in (task_states.FAILED, task_states.CANCELED):
            if task.state == task_states.CANCELED:
                bc.state, bc.reason, bc.ended_on = states.CANCELED, task.result_text, now()
            else:
                _fail(bc, task.result_text)
        self.service.finish_if_done(build)
        events.chroot_changed(session, bc, before)

    def _import(self, session: Session, task: Task, bc: BuildChroot, files_dir: Path) -> None:
        if bc.state in states.FINISHED:
            return  # a redelivered completion: already imported
        dest = make_build_dir(self.result_dir(task))
        rpms = sorted(files_dir.glob("*.rpm")) if files_dir.is_dir() else []
        try:
            nevras = read_nevras(rpms)
            if not any(n["arch"] != "src" for n in nevras):
                raise BadRpm("the build produced no binary RPM")
        except BadRpm as exc:
            _fail(bc, f"import failed: {exc}")
            return
        for path in rpms:
            shutil.move(str(path), dest / path.name)
        (dest / "success").touch()
        bc.packages = [n for n in nevras if n["arch"] != "src"]
        bc.reason = PUBLISHING
        chroot_dir = dest.parent
        after_commit(session, lambda bc_id=bc.id, name=dest.name: self.publisher.request(
            chroot_dir, bc_id, build_dir=name))

    # -- called by the publisher thread --------------------------------------------------------------
    def on_published(self, chroot_dir: Path, tokens: list[Hashable], error: str | None) -> None:
        if not tokens:
            return
        with self.db.session() as s:
            published: dict[int, set[int]] = {}
            for bc_id in tokens:
                bc = s.get(BuildChroot, bc_id)
                if bc is None or bc.state in states.FINISHED:
                    continue
                before = bc.state
                if error:
                    _fail(bc, f"publishing failed: {error}")
                else:
                    bc.state, bc.reason, bc.ended_on = states.SUCCEEDED, "", now()
                self.service.finish_if_done(bc.build)
                events.chroot_changed(s, bc, before)
                if not error and bc.build.package_id is not None:
                    published.setdefault(bc.build.project_id, set()).add(bc.build.package_id)
            for project_id, package_ids in published.items():  # the project's keep_builds, if set
                project = s.get(Project, project_id)
                if project is not None:
                    lifecycle.prune(s, project, self.layout, self.publisher, package_ids)

    def on_publish_retry(self, chroot_dir: Path, tokens: list[Hashable], error: str | None) -> None:
        """The publish will be tried again (e.g. a full disk): say why the chroot still waits."""
        with self.db.session() as s:
            for bc_id in tokens:
                bc = s.get(BuildChroot, bc_id)
                if bc is not None and bc.state not in states.FINISHED:
                    bc.reason = f"{PUBLISHING}: {error}"

    def resume_publishing(self) -> None:
        """After a restart: chroots whose task succeeded but whose publish never finished."""
        with self.db.session() as s:
            rows = s.execute(
                select(BuildChroot, Build)
                .join(Build, BuildChroot.build_id == Build.id)
                .join(Task, Task.id == BuildChroot.task_id)
                .where(BuildChroot.state == states.RUNNING, Task.state == task_states.SUCCEEDED)
            ).all()
            for bc, build in rows:
                owner, project = build.project.owner.name, build.project.name
                self.publisher.request(self.layout.chroot_dir(owner, project, bc.name), bc.id,
                                       build_dir=build_dirname(build.id, build.pkg_name or ""))


def _fail(bc: BuildChroot, reason: str) -> None:
    """End a chroot as failed; the reason also goes to the service log, where an admin looks first."""
    bc.state, bc.reason, bc.ended_on = states.FAILED, reason, now()
    log.warning("build %s %s failed: %s", bc.build_id, bc.name, reason)


def make_build_dir(build_dir: Path) -> Path:
    """Create a build's result directory (and its chroot's), but never the project's: a project
    deleted meanwhile must stay deleted, so a late log line or import fails instead."""
    for d in (build_dir.parent, build_dir):
        try:
            d.mkdir(exist_ok=True)
        except FileNotFoundError:
            raise NotFound(f"{build_dir.parent.parent.name} no longer exists; its results are not kept") from None
    return build_dir


def _drop_staging(files_dir: Path, task_id: int) -> None:
    """Remove a finished task's upload staging: ``files_dir``, and its task folder if that is its parent."""
    shutil.rmtree(files_dir, ignore_errors=True)
    if files_dir.parent.name == str(task_id):
        shutil.rmtree(files_dir.parent, ignore_errors=True)
