"""What leaves a repository: deleted packages, builds beyond a project's ``keep_builds``, and
temporary projects past their ``delete_after_days``.

Rows go in the caller's transaction; files go only after it commits, and then the chroots are
republished, so the repodata never points at a file that is gone for good while the database says
the build still exists (and a rollback deletes nothing). A crash between the commit and the
republish is repaired by the publisher's persistent queue or the next publish of the chroot.

Project options (in ``Project.options``): ``keep_builds`` (keep the newest N succeeded builds of
each package; 0 or absent keeps all) and ``delete_after`` (epoch seconds, derived from
``delete_after_days`` when it is set, as Copr does).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import events, states
from rpmyard.builds.layout import Layout
from rpmyard.builds.service import BuildService
from rpmyard.db.base import now
from rpmyard.db.engine import Database
from rpmyard.db.models import Build, Package, Project
from rpmyard.dispatch import queue
from rpmyard.dispatch.models import Task
from rpmyard.publish.options import DELETE_AFTER, KEEP_BUILDS, delete_after
from rpmyard.publish.repodata import Publisher

log = logging.getLogger(__name__)

__all__ = ["DELETE_AFTER", "KEEP_BUILDS", "Lifecycle", "delete_package", "prune", "remove_builds"]


# -- removing builds -----------------------------------------------------------------------------------
def remove_builds(s: Session, layout: Layout, publisher: Publisher, builds: Iterable[Build]) -> list[int]:
    """Delete builds (rows now; result dirs, SRPMs and repodata entries once committed)."""
    doomed: list[Path] = []
    chroot_dirs: set[Path] = set()
    ids = []
    for b in builds:
        owner, project = b.project.owner.name, b.project.name
        doomed.append(layout.srpm_dir(owner, project, b.id))
        if b.pkg_name:
            for bc in b.chroots:
                doomed.append(layout.build_dir(owner, project, bc.name, b.id, b.pkg_name))
                chroot_dirs.add(layout.chroot_dir(owner, project, bc.name))
        cancel_tasks(s, b)
        ids.append(b.id)
        s.delete(b)

    def remove_files() -> None:
        for d in doomed:
            shutil.rmtree(d, ignore_errors=True)
        for d in sorted(chroot_dirs):
            publisher.request(d)

    if ids:
        queue.after_commit(s, remove_files)
    return ids


def cancel_tasks(s: Session, build: Build) -> None:
    for bc in build.chroots:
        if bc.task_id and bc.state not in states.FINISHED:
            task = s.get(Task, bc.task_id)
            if task is not None:
                queue.request_cancel(s, task)


def prune(s: Session, project: Project, layout: Layout, publisher: Publisher,
          package_ids: Iterable[int] | None = None) -> list[int]:
    """Delete succeeded builds beyond the newest ``keep_builds`` of each package (by build id)."""
    keep = int((project.options or {}).get(KEEP_BUILDS) or 0)
    if keep <= 0:
        return []
    q = select(Build).where(Build.project_id == project.id, Build.package_id.is_not(None))
    if package_ids is not None:
        q = q.where(Build.package_id.in_(list(package_ids)))
    seen: dict[int, int] = defaultdict(int)
    doomed = []
    for b in s.scalars(q.order_by(Build.id.desc())):
        if BuildService.state(b) != states.SUCCEEDED:
            continue
        seen[b.package_id or 0] += 1
        if seen[b.package_id or 0] > keep:
            doomed.append(b)
    ids = remove_builds(s, layout, publisher, doomed)
    if ids:
        log.info("%s: pruned builds %s (keep_builds=%d)", project.full_name, ids, keep)
    return ids


def delete_package(s: Session, project: Project, package: Package, layout: Layout, publisher: Publisher) -> None:
    """A package and all its builds (running ones are canceled), out of the repositories too."""
    builds = list(s.scalars(select(Build).where(Build.package_id == package.id)))
    remove_builds(s, layout, publisher, builds)
    s.delete(package)


def delete_project(s: Session, project: Project, layout: Layout) -> None:
    """Cancel its builds, delete it, and once that is committed remove its results."""
    for build in s.scalars(select(Build).where(Build.project_id == project.id)):
        cancel_tasks(s, build)
    project_dir = layout.project_dir(project.owner.name, project.name)
    events.project_event(s, "deleted", project)
    s.delete(project)
    queue.after_commit(s, lambda: delete_project_files(project_dir))


def delete_project_files(project_dir: Path) -> None:
    """Remove a deleted project's tree. It is renamed away first, so that a background writer still
    using the old path (a publish or a usage refresh finishing) fails instead of recreating it."""
    tomb = project_dir.with_name(f".deleted-{project_dir.name}-{secrets.token_hex(4)}")
    try:
        project_dir.rename(tomb)
    except FileNotFoundError:
        return
    except OSError:
        tomb = project_dir
    shutil.rmtree(tomb, ignore_errors=True)


# -- the periodic part ---------------------------------------------------------------------------------
class Lifecycle:
    """A thread that deletes expired temporary projects and applies ``keep_builds``.

    It runs every ``interval`` seconds and whenever ``wake`` is called (after a project's options
    change), so ``delete_after_days 0`` takes effect at once rather than at the next round.
    """

    def __init__(self, db: Database, layout: Layout, publisher: Publisher, interval: float = 600.0) -> None:
        self.db = db
        self.layout = layout
        self.publisher = publisher
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lifecycle", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("lifecycle round failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def run_once(self, at: int | None = None) -> dict[str, list[Any]]:
        """One round; ``at`` is the time to judge expiry by (default: now)."""
        moment = now() if at is None else at
        expired: list[str] = []
        pruned: list[int] = []
        with self.db.session() as s:
            for p in s.scalars(select(Project).where(Project.delete_after_days.is_not(None))):
                due = delete_after(p)
                if due is not None and due <= moment:
                    expired.append(p.full_name)
                    delete_project(s, p, self.layout)
        if expired:
            log.info("deleted expired temporary projects: %s", ", ".join(expired))
        with self.db.session() as s:
            for p in s.scalars(select(Project)):
                if int((p.options or {}).get(KEEP_BUILDS) or 0) > 0:
                    pruned += prune(s, p, self.layout, self.publisher)
        return {"expired": expired, "pruned": pruned}
