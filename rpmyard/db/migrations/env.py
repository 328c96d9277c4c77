"""Alembic environment: runs on the connection rpmyard hands it (see db.engine.migrate)."""

from __future__ import annotations

from alembic import context

import rpmyard.db.models  # noqa: F401  (registers the tables)
import rpmyard.dispatch.models  # noqa: F401
from rpmyard.db.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `rpmyard migrate` (rpmyard.db.engine.migrate)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
