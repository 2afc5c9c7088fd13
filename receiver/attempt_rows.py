"""What a write does to attempt rows, the cost ledger (pure; :mod:`receiver.writes`
executes it).

The current attempt mirrors its task: whatever the lifecycle changed on the task
(provider task id, credits, result, terminal status) is what the attempt now holds,
plus its cost once it has ended. An attempt the task leaves (a reroute) keeps what
its last report said, which the task itself forgets. A late report (about an attempt
the task has left) changes only that attempt: its ``late_outcome``, its result, and
what it cost, because a gateway that finished late still bills.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from receiver.lifecycle import Status, TaskSnapshot
from receiver.routes.costs import Ledger, attempt_cost

# Create errors of an attempt that was never sent (the submitter's own refusals).
NOT_SENT = frozenset({"budget_exceeded", "circuit_open", "unexpressible"})

CURRENT_FIELDS = (
    "provider_task_id",
    "outcome",
    "error_code",
    "error_message",
    "result_urls",
    "images",
    "credits_used",
    "credits_refunded",
    "remaining_credits",
    "cost",
    "ended_at",
)
LATE_FIELDS = (
    "late_outcome",
    "result_urls",
    "images",
    "credits_used",
    "credits_refunded",
    "remaining_credits",
    "cost",
)


def outcome_of(status: Status, error_code: str | None) -> str:
    if status is Status.FAILED and error_code in NOT_SENT:
        return "refused"
    return status.value if status.is_terminal else "running"


def current(task: Mapping[str, Any], ledger: Ledger, now: datetime) -> dict[str, Any]:
    """The current attempt's row after its task row changed."""
    status = Status(task["status"])
    return {
        "a_task_id": task["id"],
        "a_number": task["attempt"],
        **_values(
            task,
            status,
            task["provider"],
            task["model"],
            ledger,
            ended_at=now if status.is_terminal else None,
        ),
    }


def left(
    task: Mapping[str, Any], snapshot: TaskSnapshot, status: Status, ledger: Ledger, now: datetime
) -> dict[str, Any]:
    """The row of the attempt a reroute leaves: the task as it was, plus the report."""
    reported = {
        name: getattr(snapshot, name)
        for name in ("provider_task_id", "credits_used", "credits_refunded", "remaining_credits")
        if getattr(snapshot, name) is not None
    }
    merged = {
        **task,
        **reported,
        "error_code": snapshot.error_code or status.value,
        "error_message": snapshot.error_message,
        "result_urls": [],
    }
    return {
        "a_task_id": task["id"],
        "a_number": task["attempt"],
        **_values(merged, status, task["provider"], task["model"], ledger, ended_at=now),
    }


def late(
    task_id: str,
    provider: str,
    before: int,
    snapshot: TaskSnapshot,
    status: Status,
    ledger: Ledger,
) -> dict[str, Any] | None:
    """The row of the earlier attempt at ``provider`` a late report is about; None for a
    report that ends nothing (a late "processing" says nothing worth keeping)."""
    if not status.is_terminal:
        return None
    urls = list(snapshot.result_urls) if status is Status.COMPLETED else []
    values = {
        "late_outcome": status.value,
        "result_urls": urls,
        "images": len(urls),
        "credits_used": snapshot.credits_used,
        "credits_refunded": snapshot.credits_refunded,
        "remaining_credits": snapshot.remaining_credits,
        "cost": attempt_cost(
            ledger.prices_of(provider),
            snapshot.model,
            completed=status is Status.COMPLETED,
            images=len(urls),
            credits_used=snapshot.credits_used,
            credits_refunded=snapshot.credits_refunded,
        ),
    }
    return {
        "a_task_id": task_id,
        "a_provider": provider,
        "a_before": before,
        **{f"a_{name}": value for name, value in values.items()},
    }


def _values(
    row: Mapping[str, Any],
    status: Status,
    provider: str,
    model: str | None,
    ledger: Ledger,
    *,
    ended_at: datetime | None,
) -> dict[str, Any]:
    urls = list(row["result_urls"]) if status is Status.COMPLETED else []
    cost = (
        attempt_cost(
            ledger.prices_of(provider),
            model,
            completed=status is Status.COMPLETED,
            images=len(urls),
            credits_used=row["credits_used"],
            credits_refunded=row["credits_refunded"],
        )
        if status.is_terminal or row["credits_used"] is not None
        else None
    )
    values = {
        "provider_task_id": row["provider_task_id"],
        "outcome": outcome_of(status, row["error_code"]),
        "error_code": row["error_code"],
        "error_message": row["error_message"],
        "result_urls": urls,
        "images": len(urls) if status.is_terminal else None,
        "credits_used": row["credits_used"],
        "credits_refunded": row["credits_refunded"],
        "remaining_credits": row["remaining_credits"],
        "cost": cost,
        "ended_at": ended_at,
    }
    return {f"a_{name}": value for name, value in values.items()}
