"""The permission rule (rpmyard.builds.permissions) on a real SQLite or PostgreSQL, migrated as served.

Who may build and who may edit, for every kind of user; who may change roles and how; that a
refused change writes nothing; and that rows go with their project or user (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from rpmyard.builds import permissions
from rpmyard.builds.errors import BadRequest, Forbidden
from rpmyard.db.engine import Database
from rpmyard.db.models import Project, ProjectPermission, User

NAMES = ("alice", "root", "bob", "carol", "dave", "erin")


def _setup(s: Session) -> tuple[Project, dict[str, User]]:
    """alice owns alice/p; root is a site admin; bob builds, carol administers, dave asked, erin is nobody."""
    users = {n: User(name=n, is_admin=n == "root", api_login=f"login-{n}", api_token_hash="h",
                     api_token_expiration=date.today() + timedelta(1)) for n in NAMES}
    s.add_all(users.values())
    project = Project(owner=users["alice"], name="p", additional_repos=[], options={})
    s.add(project)
    s.flush()
    permissions.set_roles(s, project, users["alice"], {
        "bob": {"builder": "approved"}, "carol": {"admin": "approved"}, "dave": {"builder": "request"}})
    s.flush()
    return project, users


def _rows(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(ProjectPermission)) or 0)


def test_who_may_build_and_who_may_edit(db: Database) -> None:
    with db.session() as s:
        project, users = _setup(s)
        builders = {n for n in NAMES if permissions.can_build(project, users[n])}
        editors = {n for n in NAMES if permissions.can_edit(project, users[n])}
        assert builders == {"alice", "root", "bob", "carol"}
        assert editors == {"alice", "root", "carol"}
        assert not permissions.can_build(project, None) and not permissions.can_edit(project, None)
        with pytest.raises(Forbidden, match=r"You \(dave\) are not allowed to build in alice/p\. Ask for the builder"):
            permissions.require_build(project, users["dave"])
        with pytest.raises(Forbidden, match="Only the owner and admins of alice/p can do that; you are bob."):
            permissions.require_edit(project, users["bob"])
        assert permissions.access(project, users["alice"]) == permissions.Access(True, True, False)
        assert permissions.access(project, users["erin"]) == permissions.Access(False, False, True)
        assert permissions.access(project, None) == permissions.Access(False, False, False)
        assert permissions.listing(project) == {
            "bob": {"admin": "nothing", "builder": "approved"}, "carol": {"admin": "approved", "builder": "nothing"},
            "dave": {"admin": "nothing", "builder": "request"}}


def test_only_owners_and_admins_set_roles_all_or_nothing(db: Database) -> None:
    with db.session() as s:
        project, users = _setup(s)
        before = permissions.listing(project)
        for who in ("bob", "dave", "erin"):  # a builder, a requester, a stranger: none may approve anyone
            with pytest.raises(Forbidden):
                permissions.set_roles(s, project, users[who], {who: {"builder": "approved"}})
        bad = [
            ({"erin": {"builder": "approved"}, "nobody": {"builder": "approved"}}, "User 'nobody' does not exist"),
            ({"erin": {"builder": "approved"}, "alice": {"admin": "nothing"}}, "owns alice/p"),
            ({"erin": {"builder": "approved"}, "dave": {"builder": "yes"}}, "builder cannot be 'yes'"),
            ({"erin": {"owner": "approved"}}, "unknown role 'owner'"),
            ({"erin": {}}, "expected roles like"),
            ({"erin": "approved"}, "expected roles like"),
            ({}, "no permission change requested"),
            ([], "no permission change requested"),
        ]
        for changes, message in bad:
            with pytest.raises(BadRequest, match=message):
                permissions.set_roles(s, project, users["carol"], changes)
            assert permissions.listing(project) == before, changes
        # A project admin (carol) approves; a role left out keeps its state; unchanged users are not reported.
        updated = permissions.set_roles(s, project, users["carol"], {
            "dave": {"builder": "approved"}, "bob": {"builder": "approved"}, "erin": {"admin": "request"}})
        assert updated == ["dave", "erin"]
        assert permissions.listing(project)["erin"] == {"admin": "request", "builder": "nothing"}
        assert permissions.can_build(project, users["dave"])


def test_requests_ask_or_give_up_never_approve(db: Database) -> None:
    with db.session() as s:
        project, users = _setup(s)
        with pytest.raises(BadRequest, match="You own alice/p"):
            permissions.request_roles(project, users["alice"], {"builder": True})
        with pytest.raises(BadRequest, match="You already are builder in alice/p."):
            permissions.request_roles(project, users["bob"], {"builder": True})
        for wanted in ({"builder": "approved"}, {"builder": 1}, {"builder": "True"}, {"owner": True}, {}, ["builder"]):
            with pytest.raises(BadRequest):
                permissions.request_roles(project, users["erin"], wanted)
        rows = _rows(s)
        assert permissions.request_roles(project, users["erin"], {"builder": False}) is False
        assert _rows(s) == rows, "asking for nothing where nothing is held writes no row"
        assert permissions.request_roles(project, users["erin"], {"builder": True, "admin": True}) is True
        assert permissions.listing(project)["erin"] == {"admin": "request", "builder": "request"}
        assert not permissions.can_build(project, users["erin"])
        assert permissions.request_roles(project, users["erin"], {"builder": True}) is False
        assert permissions.request_roles(project, users["bob"], {"builder": False}) is True  # bob gives it up
        assert not permissions.can_build(project, users["bob"])


def test_rows_go_with_their_project_or_user(db: Database) -> None:
    with db.session() as s:
        project, users = _setup(s)
        other = Project(owner=users["erin"], name="q", additional_repos=[], options={})
        s.add(other)
        s.flush()
        permissions.set_roles(s, other, users["erin"], {"bob": {"builder": "approved"}, "dave": {"admin": "approved"}})
        s.flush()
        assert _rows(s) == 5
    with db.session() as s:
        s.execute(delete(User).where(User.name == "dave"))  # the database cascades, not the ORM
        assert _rows(s) == 3
        s.delete(s.scalar(select(Project).where(Project.name == "p")))
        s.flush()
        assert [(r.user.name, r.builder) for r in s.scalars(select(ProjectPermission))] == [("bob", "approved")]
    with db.session() as s:
        s.execute(delete(Project).where(Project.name == "q"))
        assert _rows(s) == 0
