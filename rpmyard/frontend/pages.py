"""The site root. Every other page lives in ``rpmyard.frontend.web`` (one module per page group)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

router = APIRouter()


@router.get("/", response_model=None)
def root() -> Response:
    return RedirectResponse("/coprs/")
