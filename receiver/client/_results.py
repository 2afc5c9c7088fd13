"""The answers of the routes-and-costs API (``GET /api/routes``, ``GET /api/usage``,
a task's ``attempts``) as the client reads them.

They belong in :mod:`receiver.resources` next to every other answer, where the
server builds them and ``/openapi.json`` documents them; they are declared here,
on the same :class:`~receiver.resources.Resource` base and to the same contract,
only until that module has them, and are then replaced by those.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from receiver.resources import Resource

__all__ = [
    "Attempt",
    "AttemptOutcome",
    "GroupBy",
    "Route",
    "RouteList",
    "RouteTarget",
    "Usage",
    "UsageRow",
]


class GroupBy(StrEnum):
    """How ``GET /api/usage`` adds up its rows."""

    PROVIDER = "provider"
    MODEL = "model"  # key "provider/model"
    DAY = "day"  # key "YYYY-MM-DD", a row per (day, provider, unit)


class AttemptOutcome(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUSED = "refused"
    ABANDONED = "abandoned"


class RouteTarget(Resource):
    provider: str
    model: str
    fields: dict[str, str] = Field(
        description="the route's parameter names, mapped onto this provider's fields"
    )


class Route(Resource):
    """A name and the targets a job submitted to it tries, in order."""

    name: str
    description: str | None = None
    targets: list[RouteTarget]


class RouteList(Resource):
    routes: list[Route]


class UsageRow(Resource):
    key: str = Field(description="provider, provider/model or YYYY-MM-DD, by group_by")
    provider: str
    unit: str = Field(description="credits, USD, ...: costs in different units never add up")
    attempts: int
    images: int
    cost: float


class Usage(Resource):
    group_by: GroupBy
    since: datetime | None
    until: datetime | None
    rows: list[UsageRow]


class Attempt(Resource):
    """One provider try of a task (a routed task fails over from one to the next)."""

    number: int
    provider: str
    model: str | None
    provider_task_id: str | None
    outcome: AttemptOutcome
    late_outcome: AttemptOutcome | None = Field(
        description="what the provider reported after this attempt had already ended"
    )
    error_code: str | None
    error_message: str | None
    credits_used: float | None
    credits_refunded: float | None
    cost: float | None
    estimate: float | None
    cost_unit: str | None
    images: int | None
    started_at: datetime
    ended_at: datetime | None
