"""project permissions

Revision ID: 0004
Revises: 0003

Per-project roles of other users (Copr's builder and admin, each nothing/request/approved). Both
foreign keys cascade: deleting a project or a user removes its rows on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_permissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("builder", sa.String(length=10), nullable=False),
        sa.Column("admin", sa.String(length=10), nullable=False),
        sa.CheckConstraint("admin IN ('nothing', 'request', 'approved')", name="ck_project_permissions_admin"),
        sa.CheckConstraint("builder IN ('nothing', 'request', 'approved')", name="ck_project_permissions_builder"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "user_id"),
    )
    with op.batch_alter_table("project_permissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_permissions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("project_permissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_permissions_user_id"))

    op.drop_table("project_permissions")
