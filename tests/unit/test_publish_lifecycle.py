"""The repository lifecycle on a real database (SQLite or PostgreSQL, per RPMYARD_TEST_DB): temporary
projects expiring, keep_builds pruning disk and repodata, package deletion; a real Publisher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from rpmyard.builds import projects as P
from rpmyard.builds import states
from rpmyard.builds.errors import BadRequest
from rpmyard.builds.layout import Layout
from rpmyard.db.base import now
from rpmyard.db.engine import Database, migrate
from rpmyard.db.models import Build, BuildChroot, MockChroot, Package, Project, User
from rpmyard.frontend.accounts import create_user
from rpmyard.publish import lifecycle
from rpmyard.publish.options import DAY, remaining_days
from rpmyard.publish.repodata import Publisher
from tests.support.repos import add_build, build_rpms, repodata_locations
from tests.support.server import scratch_database

CHROOT = "fedora-43-x86_64"


class Rig:
    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.layout = Layout(root / "results", "http://127.0.0.1:1")
        self.publisher = Publisher()
        self.publisher.start()
        self.lifecycle = lifecycle.Lifecycle(db, self.layout, self.publisher)
        with db.session() as s:
            s.add(MockChroot(name=CHROOT, is_active=True))
            create_user(s, "alice")

    def project(self, name: str, **data: object) -> int:
        with self.db.session() as s:
            owner = s.scalar(select(User).where(User.name == "alice"))
            assert owner is not None
            p = P.create_project(s, owner, {"name": name, "chroots": [CHROOT], **data})
            return p.id

    def succeeded_build(self, project_id: int, pkg: str, rpms: list[Path]) -> int:
        """A build as the importer leaves it: rows succeeded, result dir ready, chroot published."""
        with self.db.session() as s:
            project = s.get(Project, project_id)
            assert project is not None
            package = s.scalar(select(Package).where(Package.project_id == project_id, Package.name == pkg))
            if package is None:
                package = Package(project_id=project_id, name=pkg, source_type="upload", source_dict={})
                s.add(package)
                s.flush()
            build = Build(project=project, project_id=project_id, package_id=package.id, source_type="upload",
                          source_dict={}, source_state=states.SUCCEEDED, pkg_name=pkg, pkg_version="1.0-1",
                          submitted_on=now(), ended_on=now())
            build.chroots = [BuildChroot(name=CHROOT, state=states.SUCCEEDED)]
            s.add(build)
            s.flush()
            build_id = build.id
        chroot = self.layout.chroot_dir("alice", self.name_of(project_id), CHROOT)
        add_build(chroot, build_id, pkg, rpms)
        self.publisher.request(chroot)
        assert self.publisher.wait_idle()
        return build_id

    def name_of(self, project_id: int) -> str:
        with self.db.session() as s:
            p = s.get(Project, project_id)
            assert p is not None
            return p.name

    def build_ids(self, project_id: int) -> list[int]:
        with self.db.session() as s:
            return sorted(s.scalars(select(Build.id).where(Build.project_id == project_id)))

    def close(self) -> None:
        self.publisher.stop()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with scratch_database(tmp_path) as url:
        db = Database(url)
        migrate(db.engine)
        r = Rig(db, tmp_path)
        yield r
        r.close()
        db.engine.dispose()


@pytest.fixture(scope="module")
def rpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    out = tmp_path_factory.mktemp("rpms")
    return {f"{name}-{v}": build_rpms(out / f"{name}-{v}", name, version=v)
            for name in ("one", "two") for v in ("1.0", "2.0", "3.0")}


def test_temporary_project_expires_after_its_days(rig: Rig, rpms: dict[str, list[Path]]) -> None:
    pid = rig.project("temp", delete_after_days=3)
    rig.succeeded_build(pid, "one", rpms["one-1.0"])
    project_dir = rig.layout.project_dir("alice", "temp")
    with rig.db.session() as s:
        p = s.get(Project, pid)
        assert p is not None and remaining_days(p) == 3
    assert rig.lifecycle.run_once(at=now() + 2 * DAY)["expired"] == []
    assert project_dir.is_dir()
    assert rig.lifecycle.run_once(at=now() + 3 * DAY + 1)["expired"] == ["alice/temp"]
    with rig.db.session() as s:
        assert s.get(Project, pid) is None
    assert not project_dir.exists()


def test_delete_after_days_minus_one_or_empty_keeps_the_project(rig: Rig) -> None:
    pid = rig.project("keepme", delete_after_days=0)
    with rig.db.session() as s:
        p = s.get(Project, pid)
        assert p is not None
        P.apply_fields(s, p, {"delete_after_days": -1}, repos_key="repos")
        assert p.delete_after_days is None and remaining_days(p) is None
    assert rig.lifecycle.run_once(at=now() + 1000 * DAY)["expired"] == []
    with rig.db.session() as s:
        p = s.get(Project, pid)
        assert p is not None
        with pytest.raises(BadRequest):
            P.apply_fields(s, p, {"delete_after_days": "soon"}, repos_key="repos")


def test_keep_builds_prunes_older_succeeded_builds_per_package(rig: Rig, rpms: dict[str, list[Path]]) -> None:
    pid = rig.project("pruned")
    ones = [rig.succeeded_build(pid, "one", rpms[f"one-{v}"]) for v in ("1.0", "2.0", "3.0")]
    twos = [rig.succeeded_build(pid, "two", rpms[f"two-{v}"]) for v in ("1.0", "2.0")]
    chroot = rig.layout.chroot_dir("alice", "pruned", CHROOT)
    assert len(repodata_locations(chroot)) == 5

    with rig.db.session() as s:
        p = s.get(Project, pid)
        assert p is not None
        P.apply_fields(s, p, {"keep_builds": 1}, repos_key="repos")
    result = rig.lifecycle.run_once()
    assert sorted(result["pruned"]) == sorted(ones[:2] + twos[:1])
    assert rig.publisher.wait_idle()
    assert rig.build_ids(pid) == sorted([ones[2], twos[1]])
    assert repodata_locations(chroot) == [f"{ones[2]:08d}-one/one-3.0-1.noarch.rpm",
                                          f"{twos[1]:08d}-two/two-2.0-1.noarch.rpm"]
    assert not (chroot / f"{ones[0]:08d}-one").exists()
    assert not rig.layout.srpm_dir("alice", "pruned", ones[0]).exists()
    with rig.db.session() as s, pytest.raises(BadRequest):
        p = s.get(Project, pid)
        assert p is not None
        P.apply_fields(s, p, {"keep_builds": "-2"}, repos_key="repos")


def test_delete_package_removes_its_builds_everywhere(rig: Rig, rpms: dict[str, list[Path]]) -> None:
    pid = rig.project("pkgs")
    rig.succeeded_build(pid, "one", rpms["one-1.0"])
    two = rig.succeeded_build(pid, "two", rpms["two-1.0"])
    with rig.db.session() as s:
        p = s.get(Project, pid)
        pkg = s.scalar(select(Package).where(Package.project_id == pid, Package.name == "one"))
        assert p is not None and pkg is not None
        lifecycle.delete_package(s, p, pkg, rig.layout, rig.publisher)
    assert rig.publisher.wait_idle()
    chroot = rig.layout.chroot_dir("alice", "pkgs", CHROOT)
    assert repodata_locations(chroot) == [f"{two:08d}-two/two-1.0-1.noarch.rpm"]
    assert rig.build_ids(pid) == [two]
