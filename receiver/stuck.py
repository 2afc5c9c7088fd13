"""Why is this task not finished? The reasons behind ``genhook tasks --stuck``.

A task is *stuck* when it is not terminal and older than ``stuck_after_seconds``.
The reason is derived from what the task row says (pure, see :func:`stuck_reason`),
so it works from any process, including a CLI with no poller of its own. "Provider
backing off" is inferred: the poller parked the task further out than its provider's
cadence would ever schedule it, which only a rate limit or open circuit does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver import settlement
from receiver.clock import iso
from receiver.lifecycle import TERMINAL, Status
from receiver.providers.registry import settlement_rules
from receiver.settings import Settings
from storage.models import Task


def stuck_reason(task: Task, settings: Settings, now: datetime) -> str:
    if task.status == Status.SUBMITTING:
        if task.lease_expires_at is not None and task.lease_expires_at > now:
            return f"being submitted by {task.lease_holder}"
        verdict = settlement.decide(
            settlement_rules(settings)[task.provider],
            create_attempts=task.create_attempts,
            unconfirmed_since=task.updated_at,
            deadline=task.deadline_at,
            now=now,
        )
        if verdict.action is settlement.Action.RESUBMIT:
            return f"submission unconfirmed: the reconciler resubmits it ({verdict.reason})"
        if verdict.action is settlement.Action.FAIL:
            return f"submission unconfirmed: the reconciler fails it now ({verdict.reason})"
        return f"submission unconfirmed: {verdict.reason}"
    if task.lease_expires_at is not None and task.lease_expires_at > now:
        return f"being polled by {task.lease_holder}"
    if task.provider_task_id is None:
        expires = iso(task.deadline_at)
        return f"waiting for callback (nothing to poll until one arrives; expires {expires})"
    next_poll = task.next_poll_at
    if task.poll_attempts == 0 and task.provider == "apimodels":
        return f"waiting for callback (poll fallback at {iso(next_poll)})"
    cadence = settings.cadence(task.provider)
    slowest = timedelta(seconds=cadence.max_interval * (1 + cadence.jitter) + 1)
    if next_poll is not None and next_poll - now > slowest and next_poll < task.deadline_at:
        return f"provider backing off (next poll at {iso(next_poll)})"
    return f"polling ({task.poll_attempts} polls so far, next at {iso(next_poll)})"


async def stuck_tasks(
    session: AsyncSession, settings: Settings, now: datetime, *, limit: int
) -> Sequence[Task]:
    older_than = now - timedelta(seconds=settings.stuck_after_seconds)
    query = (
        select(Task)
        .where(
            col(Task.status).not_in([s.value for s in TERMINAL]),
            Task.created_at < older_than,
        )
        .order_by(col(Task.created_at))
        .limit(limit)
    )
    return (await session.exec(query)).all()
