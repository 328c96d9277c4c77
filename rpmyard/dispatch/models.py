"""Dispatch's own tables: the tasks and the workers that run them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rpmyard.db.base import Base, now

PENDING, ASSIGNED, RUNNING = "pending", "assigned", "running"
SUCCEEDED, FAILED, CANCELED = "succeeded", "failed", "canceled"
ACTIVE_STATES = (ASSIGNED, RUNNING)
FINAL_STATES = (SUCCEEDED, FAILED, CANCELED)


class Task(Base):
    """One unit of work. ``owner`` and ``group`` drive fair share; ``arch`` limits who may run it."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_pick", "state", "priority", "owner", "id"),
        Index("ix_tasks_owner_assigned", "owner", "assigned_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    owner: Mapped[str] = mapped_column(String(200), default="")
    group: Mapped[str] = mapped_column(String(300), default="")
    arch: Mapped[str | None] = mapped_column(String(20), nullable=True)  # None: any worker
    priority: Mapped[int] = mapped_column(Integer, default=0)  # 0 normal, 1 background
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    tried_hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    lease_expires: Mapped[float | None] = mapped_column(Float, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    wait_reason: Mapped[str] = mapped_column(Text, default="")
    result_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result_text: Mapped[str] = mapped_column(Text, default="")
    created_on: Mapped[float] = mapped_column(Float, default=lambda: float(now()))
    assigned_on: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_on: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_on: Mapped[float | None] = mapped_column(Float, nullable=True)


class Worker(Base):
    """A worker as it registered: its inventory, its heartbeat and whether it is draining."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    inventory: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    slots: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), default="idle")  # idle|busy|draining|lost|gone
    last_heartbeat: Mapped[float] = mapped_column(Float, default=0.0)
    registered_on: Mapped[float] = mapped_column(Float, default=lambda: float(now()))

    @property
    def arches(self) -> list[str]:
        return list(self.inventory.get("arches", []))

    @property
    def kinds(self) -> list[str]:
        return list(self.inventory.get("kinds", {}))


class OutboxEvent(Base):
    """An event committed with the change it describes; a relay publishes it to the topic exchange."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_on: Mapped[float] = mapped_column(Float, default=lambda: float(now()))
    published_on: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
