"""Idempotent submission and per-task webhooks

Tasks keep the ``Idempotency-Key`` they were submitted with (unique) and a
fingerprint of the request it came with; a subscriber may belong to one task
(a webhook given with that task's submission).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("request_fingerprint", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_tasks_idempotency_key", ["idempotency_key"])
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key("fk_subscribers_task_id", "tasks", ["task_id"], ["id"])
        batch_op.create_index("ix_subscribers_task_id", ["task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_task_id")
        batch_op.drop_constraint("fk_subscribers_task_id", type_="foreignkey")
        batch_op.drop_column("task_id")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tasks_idempotency_key", type_="unique")
        batch_op.drop_column("request_fingerprint")
        batch_op.drop_column("idempotency_key")
