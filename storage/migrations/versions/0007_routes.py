"""Routes: attempts (the cost ledger) and the route columns of tasks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 13:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every task already stored was one try at one provider: its attempt 1, so the
# ledger and GET /api/tasks/{id} read the same for old tasks as for new ones.
BACKFILL = """
INSERT INTO attempts (task_id, number, provider, model, provider_task_id, outcome,
    error_code, error_message, result_urls, credits_used, credits_refunded,
    remaining_credits, cost, cost_unit, started_at, ended_at)
SELECT id, 1, provider, model, provider_task_id,
    CASE WHEN status IN ('completed', 'failed', 'expired') THEN status ELSE 'running' END,
    error_code, error_message, result_urls, credits_used, credits_refunded,
    remaining_credits,
    CASE WHEN credits_used IS NOT NULL THEN credits_used - COALESCE(credits_refunded, 0) END,
    CASE WHEN provider = 'apimall' THEN 'credits' ELSE 'USD' END,
    COALESCE(submitted_at, created_at), terminal_at
FROM tasks
"""


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("route_plan", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("reroute_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("provider_task_id", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("late_outcome", sa.String(length=16), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("result_urls", sa.JSON(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=True),
        sa.Column("credits_used", sa.Float(), nullable=True),
        sa.Column("credits_refunded", sa.Float(), nullable=True),
        sa.Column("remaining_credits", sa.Float(), nullable=True),
        sa.Column("estimate", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("cost_unit", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "number", name="uq_attempts_task_number"),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attempts_provider_started", ["provider", "started_at"], unique=False
        )
        batch_op.create_index("ix_attempts_started_at", ["started_at"], unique=False)
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_started_at")
        batch_op.drop_index("ix_attempts_provider_started")
    op.drop_table("attempts")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("reroute_at")
        batch_op.drop_column("attempt")
        batch_op.drop_column("route_plan")
        batch_op.drop_column("route")
