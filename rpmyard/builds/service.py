"""Builds: submitting (upload or URL), starting per-chroot tasks, cancelling and deleting.

A build is accepted only after its SRPM was inspected; its per-chroot tasks are committed in the
same transaction as the build, so nothing is half-created.
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from rpmyard.builder.srpm import InvalidSrpm, SrpmInfo, file_sha256, inspect_srpm
from rpmyard.builder.target import Target
from rpmyard.builds import events, permissions, states, url_guard
from rpmyard.builds.errors import BadRequest
from rpmyard.builds.layout import Layout
from rpmyard.builds.projects import as_bool, as_list
from rpmyard.db.base import now
from rpmyard.db.models import Build, BuildChroot, Package, Project, User
from rpmyard.dispatch import queue
from rpmyard.dispatch.models import Task
from rpmyard.publish.repodata import Publisher

RPM_BUILD = "rpm-build"
MAX_TIMEOUT = 108000


class BuildOptions:
    """The ``buildopts`` every create call accepts, parsed once."""

    def __init__(self, data: dict[str, Any], default_timeout: int) -> None:
        self.chroots = as_list(data.get("chroots"))
        self.exclude = as_list(data.get("exclude_chroots"))
        self.background = as_bool(data.get("background") or False, "background")
        enable_net = data.get("enable_net")
        self.enable_net = None if enable_net in (None, "") else as_bool(enable_net, "enable_net")
        timeout = data.get("timeout")
        try:
            self.timeout = default_timeout if timeout in (None, "") else int(timeout)
        except (TypeError, ValueError):
            raise BadRequest("timeout: must be a number of seconds") from None
        if not 0 < self.timeout <= MAX_TIMEOUT:
            raise BadRequest(f"timeout: must be between 1 and {MAX_TIMEOUT} seconds")


class BuildService:
    def __init__(self, layout: Layout, publisher: Publisher, default_timeout: int, max_attempts: int, *,
                 allow_private_urls: bool = False) -> None:
        self.layout = layout
        self.allow_private_urls = allow_private_urls
        self.publisher = publisher
        self.default_timeout = default_timeout
        self.max_attempts = max_attempts

    # -- submission ------------------------------------------------------------------------------
    def options(self, data: dict[str, Any]) -> BuildOptions:
        return BuildOptions(data, self.default_timeout)

    def pick_chroots(self, project: Project, opts: BuildOptions) -> list[str]:
        names = project.active_chroot_names()
        if opts.chroots:
            chosen: list[str] = []
            for pattern in opts.chroots:
                hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
                if not hits:
                    raise BadRequest(
                        f"chroots: '{pattern}' is not enabled in {project.full_name}. "
                        f"Valid chroots: {', '.join(names) or '(none)'}"
                    )
                chosen += [h for h in hits if h not in chosen]
        else:
            chosen = list(names)
        chosen = [n for n in chosen if not any(fnmatch.fnmatchcase(n, p) for p in opts.exclude)]
        if not chosen:
            raise BadRequest(f"chroots: no chroot left to build in for {project.full_name}")
        return sorted(chosen)

    def check_can_build(self, project: Project, user: User) -> None:
        permissions.require_build(project, user)

    def _new_build(self, s: Session, project: Project, user: User, opts: BuildOptions, chroots: list[str],
                   *, source_type: str, source_dict: dict[str, Any], source_state: int) -> Build:
        build = Build(
            project=project, project_id=project.id, submitter=user, submitter_id=user.id,
            source_type=source_type, source_dict=source_dict, source_state=source_state,
            is_background=opts.background, timeout=opts.timeout,
            enable_net=project.enable_net if opts.enable_net is None else opts.enable_net,
            submitted_on=now(),
        )
        build.chroots = [BuildChroot(name=c, state=states.WAITING) for c in chroots]
        s.add(build)
        s.flush()
        return build

    def submit_upload(self, s: Session, project: Project, user: User, opts: BuildOptions,
                      srpm: Path, filename: str) -> Build:
        """Accept an uploaded SRPM (already streamed to ``srpm``) and queue its chroot builds."""
        self.check_can_build(project, user)
        chroots = self.pick_chroots(project, opts)
        info = self.inspect(srpm, filename)
        build = self._new_build(s, project, user, opts, chroots, source_type="upload",
                                source_dict={"pkg": filename}, source_state=states.SUCCEEDED)
        self.attach_srpm(s, build, srpm, info)
        events.build_submitted(s, build)
        return build

    def submit_url(self, s: Session, project: Project, user: User, opts: BuildOptions, url: str) -> Build:
        self.check_can_build(project, user)
        try:
            url_guard.check_url(url, allow_private=self.allow_private_urls)
        except url_guard.RefusedUrl as exc:
            raise BadRequest(f"pkgs: {exc.message}") from None
        chroots = self.pick_chroots(project, opts)
        build = self._new_build(s, project, user, opts, chroots, source_type="link",
                                source_dict={"url": url}, source_state=states.PENDING)
        events.build_submitted(s, build)
        return build

    @staticmethod
    def inspect(srpm: Path, filename: str) -> SrpmInfo:
        try:
            return inspect_srpm(srpm)
        except InvalidSrpm as exc:
            raise BadRequest(f"{filename}: {exc}") from None

    def attach_srpm(self, s: Session, build: Build, srpm: Path, info: SrpmInfo) -> None:
        """Move the checked SRPM into place and start one task per chroot (same transaction)."""
        project = build.project
        owner = project.owner.name
        build.pkg_name = info.name
        build.pkg_version = f"{info.version}-{info.release}"
        build.srpm_name = f"{info.nvr}.src.rpm"
        build.noarch = info.is_noarch
        build.source_state = states.SUCCEEDED
        build.package_id = self._package(s, project, info.name).id
        dest_dir = self.layout.srpm_dir(owner, project.name, build.id)
        dest_dir.mkdir(parents=True, exist_ok=True)
        queue.on_rollback(s, lambda: shutil.rmtree(dest_dir, ignore_errors=True))
        digest = file_sha256(srpm)
        shutil.move(str(srpm), dest_dir / build.srpm_name)
        srpm_url = self.layout.srpm_url(owner, project.name, build.id, build.srpm_name)
        for bc in build.chroots:
            target = Target.parse(bc.name)
            if not info.is_noarch and not info.buildable_on(target.arch):
                bc.state = states.SKIPPED
                bc.reason = f"{info.name} does not build on {target.arch} (ExclusiveArch/ExcludeArch)"
                continue
            task = queue.submit(
                s, RPM_BUILD,
                {
                    "build_id": build.id, "build_chroot_id": bc.id, "chroot": bc.name,
                    "owner": owner, "project": project.name, "pkg_name": info.name,
                    "srpm_url": srpm_url, "timeout": build.timeout, "enable_net": build.enable_net,
                    "srpm_sha256": digest, "srpm_info": info.to_payload(),
                },
                owner=owner, group=project.full_name, arch=None if info.is_noarch else target.arch,
                background=build.is_background, max_attempts=self.max_attempts,
            )
            bc.task_id = task.id
            bc.state = states.PENDING
        self.finish_if_done(build)

    @staticmethod
    def _package(s: Session, project: Project, name: str) -> Package:
        pkg = s.query(Package).filter_by(project_id=project.id, name=name).one_or_none()
        if pkg is None:
            pkg = Package(project_id=project.id, name=name, source_type="upload", source_dict={})
            s.add(pkg)
            s.flush()
        return pkg

    # -- state -----------------------------------------------------------------------------------
    @staticmethod
    def state(build: Build) -> int:
        return states.build_state(canceled=build.canceled, source_state=build.source_state,
                                  chroot_states=[bc.state for bc in build.chroots])

    @staticmethod
    def finish_if_done(build: Build) -> None:
        if build.ended_on is None and BuildService.state(build) in states.FINISHED:
            build.ended_on = now()

    # -- cancel and delete -----------------------------------------------------------------------
    def cancel(self, s: Session, build: Build, user: User) -> None:
        self.check_can_build(build.project, user)
        if self.state(build) in states.FINISHED:
            raise BadRequest(f"Cannot cancel build {build.id}: it has already finished "
                             f"({states.NAMES[self.state(build)]}).")
        build.canceled = True
        for bc in build.chroots:
            if bc.state in states.FINISHED:
                continue
            task = s.get(Task, bc.task_id) if bc.task_id else None
            if task is None or queue.request_cancel(s, task):
                bc.state = states.CANCELED
                bc.ended_on = now()
        self.finish_if_done(build)

    def delete(self, s: Session, build: Build, user: User) -> None:
        self.check_can_build(build.project, user)
        if self.state(build) not in states.FINISHED:
            raise BadRequest(f"Build {build.id} is not finished ({states.NAMES[self.state(build)]}); "
                             "cancel it first.")
        owner, project = build.project.owner.name, build.project.name
        doomed = [self.layout.srpm_dir(owner, project, build.id)]
        chroot_dirs = []
        for bc in build.chroots:
            if build.pkg_name:
                doomed.append(self.layout.build_dir(owner, project, bc.name, build.id, build.pkg_name))
                chroot_dirs.append(self.layout.chroot_dir(owner, project, bc.name))
        s.delete(build)

        def remove_files() -> None:
            for d in doomed:
                shutil.rmtree(d, ignore_errors=True)
            for d in chroot_dirs:
                self.publisher.request(d)

        queue.after_commit(s, remove_files)
