"""API root, authentication check, token renewal and the chroot list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from rpmyard.builds.projects import active_chroots
from rpmyard.db.models import User
from rpmyard.frontend.accounts import new_token
from rpmyard.frontend.deps import current_user, session, yard
from rpmyard.yard import Yard

router = APIRouter()


@router.get("/api_3")
def home() -> dict[str, Any]:
    return {"version": 3}


@router.get("/api_3/auth-check")
def auth_check(user: User = Depends(current_user)) -> dict[str, Any]:
    return {"id": user.id, "name": user.name}


@router.post("/api_3/api-token")
def api_token(user: User = Depends(current_user), y: Yard = Depends(yard)) -> dict[str, Any]:
    token = new_token(user, y.settings.token_days)
    return {"api_login": user.api_login, "api_token": token,
            "expiration": user.api_token_expiration.isoformat()}


@router.get("/api_3/mock-chroots/list")
def mock_chroots(s: Session = Depends(session)) -> dict[str, str]:
    return {c.name: c.comment for c in active_chroots(s)}
