"""The build service's tables: users, chroots, projects and their permissions, packages, builds and their chroots.

Dispatch keeps its own tables (``rpmyard.dispatch.models``); a build chroot points at its task.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from rpmyard.db.base import Base, now


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    api_login: Mapped[str] = mapped_column(String(64), unique=True)
    api_token_hash: Mapped[str] = mapped_column(String(128))
    api_token_expiration: Mapped[Any] = mapped_column(Date)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)  # web login; None: none set
    created_on: Mapped[int] = mapped_column(Integer, default=now)

    @classmethod
    def named(cls, s: Session, name: str) -> User | None:
        """The user called ``name``, or None: the one lookup by name (names are unique)."""
        return s.scalar(select(cls).where(cls.name == name))


class MockChroot(Base):
    """A build target offered by this instance, named as Copr names them."""

    __tablename__ = "mock_chroots"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    comment: Mapped[str] = mapped_column(Text, default="")


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    homepage: Mapped[str | None] = mapped_column(Text, nullable=True)
    contact: Mapped[str | None] = mapped_column(Text, nullable=True)
    additional_repos: Mapped[list[str]] = mapped_column(JSON, default=list)
    unlisted_on_hp: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_net: Mapped[bool] = mapped_column(Boolean, default=False)
    persistent: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_prune: Mapped[bool] = mapped_column(Boolean, default=True)
    devel_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    bootstrap: Mapped[str] = mapped_column(String(20), default="default")
    isolation: Mapped[str] = mapped_column(String(20), default="default")
    module_hotfixes: Mapped[bool] = mapped_column(Boolean, default=False)
    appstream: Mapped[bool] = mapped_column(Boolean, default=False)
    follow_fedora_branching: Mapped[bool] = mapped_column(Boolean, default=True)
    repo_priority: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delete_after_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Copr options rpmyard stores and returns but does not act on yet (multilib, fedora_review, ...).
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_on: Mapped[int] = mapped_column(Integer, default=now)

    owner: Mapped[User] = relationship(lazy="joined")
    chroots: Mapped[list[ProjectChroot]] = relationship(
        back_populates="project", cascade="all, delete-orphan", lazy="selectin"
    )
    # Loaded when a permission check asks; the rule lives in rpmyard.builds.permissions.
    permissions: Mapped[list[ProjectPermission]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def full_name(self) -> str:
        return f"{self.owner.name}/{self.name}"

    def active_chroot_names(self) -> list[str]:
        return sorted(pc.mock_chroot.name for pc in self.chroots)


class ProjectChroot(Base):
    __tablename__ = "project_chroots"
    __table_args__ = (UniqueConstraint("project_id", "mock_chroot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    mock_chroot_id: Mapped[int] = mapped_column(ForeignKey("mock_chroots.id"))
    additional_repos: Mapped[list[str]] = mapped_column(JSON, default=list)
    additional_packages: Mapped[list[str]] = mapped_column(JSON, default=list)
    additional_modules: Mapped[list[str]] = mapped_column(JSON, default=list)
    with_opts: Mapped[list[str]] = mapped_column(JSON, default=list)
    without_opts: Mapped[list[str]] = mapped_column(JSON, default=list)
    isolation: Mapped[str] = mapped_column(String(20), default="unchanged")
    bootstrap: Mapped[str | None] = mapped_column(String(20), nullable=True)
    bootstrap_image: Mapped[str | None] = mapped_column(Text, nullable=True)
    comps_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    delete_after_days: Mapped[int | None] = mapped_column(Integer, nullable=True)

    project: Mapped[Project] = relationship(back_populates="chroots")
    mock_chroot: Mapped[MockChroot] = relationship(lazy="joined")


PERMISSION_STATES = ("nothing", "request", "approved")  # Copr's order: only "approved" grants anything
_STATES_SQL = ", ".join(f"'{state}'" for state in PERMISSION_STATES)


class ProjectPermission(Base):
    """One user's roles in a project (Copr's CoprPermission), each nothing, request or approved.

    The owner and the site's administrators hold every right without a row. Rows go with their
    project or user (ON DELETE CASCADE), so a user created later under the same name inherits nothing.
    """

    __tablename__ = "project_permissions"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        CheckConstraint(f"builder IN ({_STATES_SQL})", name="ck_project_permissions_builder"),
        CheckConstraint(f"admin IN ({_STATES_SQL})", name="ck_project_permissions_admin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    builder: Mapped[str] = mapped_column(String(10), default="nothing")
    admin: Mapped[str] = mapped_column(String(10), default="nothing")

    project: Mapped[Project] = relationship(back_populates="permissions")
    user: Mapped[User] = relationship(lazy="joined")


class Package(Base):
    __tablename__ = "packages"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    source_type: Mapped[str] = mapped_column(String(20), default="unset")
    source_dict: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    webhook_rebuild: Mapped[bool] = mapped_column(Boolean, default=False)
    max_builds: Mapped[int] = mapped_column(Integer, default=0)


class Build(Base):
    __tablename__ = "builds"
    # Copr never gives a build id out twice; without AUTOINCREMENT SQLite reuses the highest deleted one.
    __table_args__ = (
        # The web builds list of one project: sorted by time, filtered by state (migration 0003).
        Index("ix_builds_project_submitted", "project_id", "submitted_on"),
        Index("ix_builds_project_ended", "project_id", "ended_on"),
        Index("ix_builds_project_source_state", "project_id", "source_state"),
        Index("ix_builds_project_canceled", "project_id", "canceled"),
        # Newest builds of a package without touching the table (packages list, monitor).
        Index("ix_builds_package_newest", "package_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int | None] = mapped_column(
        ForeignKey("packages.id", ondelete="SET NULL"), nullable=True, index=True
    )
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    source_type: Mapped[str] = mapped_column(String(20))  # "upload" | "link"
    source_dict: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_state: Mapped[int] = mapped_column(Integer)
    pkg_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    pkg_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    srpm_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    noarch: Mapped[bool] = mapped_column(Boolean, default=False)
    fail_reason: Mapped[str] = mapped_column(Text, default="")
    canceled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_background: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_net: Mapped[bool] = mapped_column(Boolean, default=False)
    timeout: Mapped[int] = mapped_column(Integer, default=18000)
    submitted_on: Mapped[int] = mapped_column(Integer, default=now)
    started_on: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ended_on: Mapped[int | None] = mapped_column(Integer, nullable=True)

    project: Mapped[Project] = relationship(lazy="joined")
    submitter: Mapped[User | None] = relationship(lazy="joined")
    chroots: Mapped[list[BuildChroot]] = relationship(
        back_populates="build", cascade="all, delete-orphan", lazy="selectin", order_by="BuildChroot.name"
    )


class BuildChroot(Base):
    __tablename__ = "build_chroots"
    __table_args__ = (UniqueConstraint("build_id", "name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[int] = mapped_column(Integer, index=True)
    task_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    started_on: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ended_on: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")  # why it waits, or why it failed
    # NEVRAs of what this chroot produced, as the built-packages endpoints return them.
    packages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    build: Mapped[Build] = relationship(back_populates="chroots")
