"""The reasons ``genhook tasks --stuck`` gives, derived from the task row alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from receiver.settings import Settings
from receiver.stuck import stuck_reason
from storage.models import Task

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = Settings(_env_file=None)


def task(**fields: Any) -> Task:
    values: dict[str, Any] = {
        "provider": "apimart",
        "provider_task_id": "p1",
        "status": "pending",
        "created_at": NOW - timedelta(minutes=10),
        "updated_at": NOW,
        "deadline_at": NOW + timedelta(minutes=20),
        "next_poll_at": NOW + timedelta(seconds=4),
        "poll_attempts": 3,
        **fields,
    }
    return Task(**values)


def test_reasons() -> None:
    assert stuck_reason(task(), SETTINGS, NOW).startswith("polling (3 polls")
    assert stuck_reason(task(next_poll_at=NOW + timedelta(seconds=90)), SETTINGS, NOW).startswith(
        "provider backing off"
    )
    assert stuck_reason(
        task(provider="apimodels", poll_attempts=0, next_poll_at=NOW + timedelta(seconds=50)),
        SETTINGS,
        NOW,
    ).startswith("waiting for callback (poll fallback at")
    assert stuck_reason(task(provider_task_id=None), SETTINGS, NOW).startswith(
        "waiting for callback (nothing to poll"
    )
    assert (
        stuck_reason(
            task(lease_holder="w1", lease_expires_at=NOW + timedelta(seconds=30)), SETTINGS, NOW
        )
        == "being polled by w1"
    )
    assert stuck_reason(task(status="submitting"), SETTINGS, NOW) == (
        "submission unconfirmed: the reconciler fails it as create_unconfirmed at "
        f"{(NOW + timedelta(seconds=60)).isoformat()}"
    )
    assert stuck_reason(
        task(status="submitting", updated_at=NOW - timedelta(minutes=2)), SETTINGS, NOW
    ).startswith("submission unconfirmed: the reconciler fails it now (apimart sends no callback")
    assert stuck_reason(task(status="submitting", provider="apimall"), SETTINGS, NOW).startswith(
        "submission unconfirmed: the reconciler resubmits it (the create is idempotent"
    )
    assert stuck_reason(task(status="submitting", provider="apimodels"), SETTINGS, NOW) == (
        "submission unconfirmed: waiting for the callback its URL would bring, until its deadline"
    )
    assert (
        stuck_reason(
            task(status="submitting", lease_holder="submit", lease_expires_at=NOW + timedelta(1)),
            SETTINGS,
            NOW,
        )
        == "being submitted by submit"
    )
