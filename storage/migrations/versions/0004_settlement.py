"""Unconfirmed creates counted; events that belong to no task (subscriber.disabled)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("create_attempts", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("task_id", existing_type=sa.String(length=40), nullable=True)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("task_id", existing_type=sa.String(length=40), nullable=True)


def downgrade() -> None:
    op.execute(
        "DELETE FROM delivery_attempts WHERE delivery_id IN "
        "(SELECT id FROM deliveries WHERE task_id IS NULL)"
    )
    op.execute("DELETE FROM deliveries WHERE task_id IS NULL")
    op.execute("DELETE FROM outbox WHERE task_id IS NULL")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("task_id", existing_type=sa.String(length=40), nullable=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("task_id", existing_type=sa.String(length=40), nullable=False)
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("create_attempts")
