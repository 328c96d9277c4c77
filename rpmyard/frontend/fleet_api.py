"""JSON views of the dispatcher's state: workers, task kinds, the queue (no secrets in them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from rpmyard.dispatch import fleet
from rpmyard.frontend.deps import session, yard
from rpmyard.yard import Yard

router = APIRouter()


@router.get("/api/workers")
def workers(s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    return {"workers": fleet.workers(s, y.settings.lease_seconds)}


@router.get("/api/tasks/kinds")
def task_kinds(s: Session = Depends(session), y: Yard = Depends(yard)) -> dict[str, Any]:
    return {"kinds": fleet.task_kinds(s, y.settings.lease_seconds)}


@router.get("/api/queue")
def queue(s: Session = Depends(session)) -> dict[str, Any]:
    return fleet.queue_summary(s)
