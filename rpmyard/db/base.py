"""The declarative base shared by every table, so one Alembic history covers them all."""

from __future__ import annotations

import time

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def now() -> int:
    """Unix seconds: what the Copr API returns for every timestamp."""
    return int(time.time())
