"""The web listings' SQL against the Python rules they mirror, on a real SQLite or PostgreSQL.

The builds list filters by a build's derived state in SQL; this checks that SQL against
``BuildService.state`` for every combination that matters, and the monitor's shortcut (newest
build first, older builds only for uncovered chroots) against a plain scan.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import states
from rpmyard.builds.service import BuildService
from rpmyard.db.engine import Database
from rpmyard.db.models import Build, BuildChroot, Package, Project, User
from rpmyard.frontend.web import queries as Q

CHROOT_STATES = (None, states.WAITING, states.PENDING, states.RUNNING, states.SUCCEEDED, states.FAILED,
                 states.CANCELED, states.SKIPPED)
SOURCE_STATES = (states.SUCCEEDED, states.PENDING, states.RUNNING, states.FAILED, states.IMPORTING)


def _project(s: Session) -> Project:
    user = User(name="alice", api_login="l", api_token_hash="h", api_token_expiration=date.today() + timedelta(1))
    project = Project(owner=user, name="p", additional_repos=[], options={})
    s.add(project)
    s.flush()
    return project


def test_state_filter_matches_the_python_rule(db: Database) -> None:
    with db.session() as s:
        project = _project(s)
        for canceled, source, first, second in itertools.product(
                (False, True), SOURCE_STATES, CHROOT_STATES, CHROOT_STATES):
            build = Build(project=project, source_type="upload", source_dict={}, source_state=source,
                          canceled=canceled, pkg_name="x")
            build.chroots = [BuildChroot(name=f"c{i}", state=st) for i, st in enumerate((first, second))
                             if st is not None]
            s.add(build)
        s.flush()
        builds = list(s.scalars(select(Build).where(Build.project_id == project.id)))
        assert len(builds) == 2 * len(SOURCE_STATES) * len(CHROOT_STATES) ** 2
        for name in Q.FILTER_STATES:
            code = states.BY_NAME[name]
            expected = sorted(b.id for b in builds if BuildService.state(b) == code)
            got = sorted(s.scalars(select(Build.id).where(Q.state_condition(code))))
            assert got == expected, name
            page, _more, _total = Q.builds_page(s, project.id, page=1, per_page=10_000, state=name,
                                                package_id=None, sort="id", descending=True)
            assert sorted(b.id for b in page) == expected, f"{name} through builds_page"


def test_monitor_takes_each_chroot_from_the_newest_build_that_has_it(db: Database) -> None:
    with db.session() as s:
        project = _project(s)
        pkg = Package(project_id=project.id, name="hello")
        never = Package(project_id=project.id, name="never-built")
        s.add_all([pkg, never])
        s.flush()
        plan = [  # (chroots of the build, state) oldest first
            ({"a": states.FAILED, "b": states.SUCCEEDED, "c": states.SUCCEEDED}, "1"),
            ({"a": states.SUCCEEDED}, "2"),
            ({"b": states.RUNNING}, "3"),
        ]
        ids = []
        for chroots, version in plan:
            build = Build(project=project, package_id=pkg.id, source_type="upload", source_dict={},
                          source_state=states.SUCCEEDED, pkg_name="hello", pkg_version=version)
            build.chroots = [BuildChroot(name=n, state=st) for n, st in chroots.items()]
            s.add(build)
            s.flush()
            ids.append(build.id)
        cells = Q.monitor_cells(s, [pkg.id, never.id], ["a", "b", "c", "d"])
        assert cells[(pkg.id, "a")]["build_id"] == ids[1] and cells[(pkg.id, "a")]["state"] == states.SUCCEEDED
        assert cells[(pkg.id, "b")]["build_id"] == ids[2] and cells[(pkg.id, "b")]["state"] == states.RUNNING
        assert cells[(pkg.id, "c")]["build_id"] == ids[0] and cells[(pkg.id, "c")]["pkg_version"] == "1"
        assert (pkg.id, "d") not in cells and not any(key[0] == never.id for key in cells)
        latest = Q.latest_builds(s, [pkg.id, never.id])
        assert latest[pkg.id].id == ids[2] and never.id not in latest
