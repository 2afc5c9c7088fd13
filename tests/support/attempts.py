"""A provider try of a task in the shape that shows one (``receiver.views.AttemptRecord``):
what the dashboard's Attempts card and the CLI's attempts table are tested with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

STARTED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Tried:
    number: int
    provider: str
    model: str | None
    provider_task_id: str | None
    outcome: str
    late_outcome: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    cost: float | None = None
    cost_unit: str | None = None
    started_at: datetime = STARTED
    ended_at: datetime | None = None
