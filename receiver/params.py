"""What genhook accepts: request bodies and query parameters, as pydantic models.

The web handlers, the CLI and the OpenAPI document all read these, so a parameter
is validated the same way everywhere: a bad value is refused naming the parameter
(``422`` over HTTP, exit code 2 on the command line) instead of quietly matching
nothing. One page-size limit (:data:`MAX_PAGE`) for every listing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from receiver import clock
from receiver.delivery.schedule import DeliveryStatus
from receiver.errors import InvalidRequestError
from receiver.lifecycle import EventType, Status
from receiver.stats import Window

__all__ = [
    "DEFAULT_PAGE",
    "IDEMPOTENCY_KEY_PATTERN",
    "MAX_ID",
    "MAX_PAGE",
    "CallbackUrlBody",
    "DeliveryQuery",
    "DisableBody",
    "EventQuery",
    "ReplayBody",
    "RotateBody",
    "SettleBody",
    "Settlement",
    "StuckQuery",
    "SubmitBody",
    "SubscriberBody",
    "SubscriberQuery",
    "TaskQuery",
    "TaskWebhookBody",
    "TrackBody",
    "parse_event_types",
    "parse_since",
]

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_ID = 2**31 - 1  # integer ids are 32-bit on PostgreSQL
TASK_ID_PATTERN = r"^tsk_[0-9A-HJKMNP-TV-Z]{26}$"  # tsk_ + ULID (Crockford base32)
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"  # printable ASCII, no spaces (UUIDs...)
EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
TaskId = Annotated[str, StringConstraints(pattern=TASK_ID_PATTERN)]
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE, description=f"page size, 1 to {MAX_PAGE}")]


def parse_event_types(values: Any) -> list[str]:
    """``"task.completed,task.failed"``, a list of such, or None → validated, de-duplicated
    event types (an empty list means every type)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    wanted: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidRequestError("event types are strings", field="event_types")
        for name in (part.strip() for part in value.split(",")):
            if not name:
                continue
            if name not in EVENT_TYPES:
                raise InvalidRequestError(
                    f"unknown event type {name!r}; known: {', '.join(EVENT_TYPES)}",
                    field="event_types",
                    code="unknown_event_type",
                )
            if name not in wanted:
                wanted.append(name)
    return wanted


def _event_types(values: Any) -> list[str]:
    try:
        return parse_event_types(values)
    except InvalidRequestError as exc:  # as pydantic's own kind of error, with our code
        raise PydanticCustomError(exc.code, str(exc)) from None


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, now: datetime) -> datetime:
    """``--since``: an ISO 8601 time with a zone, or an age such as ``30m``, ``2h``, ``3d``."""
    text = value.strip()
    try:
        match = _DURATION.match(text.lower())
        if match:
            return now - timedelta(seconds=float(match[1]) * _UNITS[match[2]])
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} needs a time zone (e.g. a trailing Z)")
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None
    except ValueError as exc:
        if "time zone" in str(exc):
            raise
        raise ValueError(
            f"{value!r} is neither an ISO 8601 time nor an age like 30m, 2h or 3d"
        ) from None


EventTypes = Annotated[list[EventType], BeforeValidator(_event_types)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Unknown parameters are ignored (cache busters, tracking tags), known ones checked."""

    model_config = ConfigDict(extra="ignore")


class CallbackUrlBody(BaseModel):
    # Unknown fields are ignored, as this route always did (clients may send notes).
    model_config = ConfigDict(extra="ignore")

    provider: str


class TaskWebhookBody(Body):
    """Where to send this one task's events, signed like a subscriber's."""

    url: str
    events: EventTypes = Field(default_factory=list, description="empty: every type")
    secret: str | None = Field(
        default=None, description="whsec_<base64> to sign with; default: generated"
    )


class SubmitBody(Body):
    """A job for one provider and model, or for a route (``route``, params in the route
    vocabulary): exactly one of the two."""

    provider: str | None = Field(default=None, description="with model; or give route")
    model: str | None = Field(default=None, min_length=1)
    route: str | None = Field(
        default=None, description="a route's name instead of provider and model (GET /api/routes)"
    )
    prompt: str
    params: dict[str, Any] = Field(default_factory=dict)
    webhook: TaskWebhookBody | None = Field(
        default=None, description="call this URL with the task's events (a per-task subscriber)"
    )

    @model_validator(mode="after")
    def _route_or_provider(self) -> SubmitBody:
        if self.route is not None:
            if self.provider is not None or self.model is not None:
                raise ValueError("give route, or provider and model, not both")
        elif self.provider is None or self.model is None:
            raise ValueError("give provider and model, or route")
        return self


class Settlement(StrEnum):
    """An operator's word on an unconfirmed create (``POST /api/tasks/{id}/settle``)."""

    FAILED = "failed"  # the provider has no such job: record the task as failed
    RESUBMIT = "resubmit"  # the provider has no such job: create it (again)


class SettleBody(Body):
    outcome: Settlement = Field(
        description="failed: record the task as failed; resubmit: create it at the provider "
        "again (you checked that the provider has no such job)"
    )


class TrackBody(Body):
    provider: str
    provider_task_id: str = Field(min_length=1)
    model: str | None = None


class SubscriberBody(Body):
    url: str
    event_types: EventTypes = Field(default_factory=list, description="empty: every type")
    secret: str | None = None


class DisableBody(Body):
    reason: str | None = Field(default=None, max_length=500, description="kept on the subscriber")


class RotateBody(Body):
    secret: str | None = None


class ReplayBody(Body):
    subscriber: str
    since: str | None = Field(
        default=None, description="an ISO 8601 time with a zone, or an age like 30m, 2h, 3d"
    )
    event: str | None = None
    dead: bool = False

    @field_validator("since")
    @classmethod
    def _since_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_since(value, clock.utcnow())  # raises ValueError with a clear message
        return value


class StuckQuery(Query):
    """``GET /api/tasks/stuck`` and ``genhook tasks --stuck``."""

    limit: Limit = DEFAULT_PAGE


class SubscriberQuery(Query):
    """``GET /api/subscribers``."""

    task_id: Text | None = Field(
        default=None, description="that task's webhooks instead of the subscribers for all tasks"
    )


class TaskQuery(Query):
    """``GET /api/tasks`` and ``genhook tasks``."""

    status: Status | None = None
    provider: Text | None = None
    model: Text | None = None
    created_since: AwareDatetime | None = Field(default=None, description="ISO 8601 with a zone")
    created_until: AwareDatetime | None = Field(default=None, description="ISO 8601 with a zone")
    limit: Limit = DEFAULT_PAGE
    cursor: TaskId | None = Field(default=None, description="``next_cursor`` of the previous page")


class UsageGrouping(StrEnum):
    PROVIDER = "provider"
    MODEL = "model"
    DAY = "day"


class UsageQuery(Query):
    """``GET /api/usage`` and ``genhook usage``: attempts started in [since, until)."""

    since: AwareDatetime | None = Field(default=None, description="ISO 8601 with a zone")
    until: AwareDatetime | None = Field(default=None, description="ISO 8601 with a zone")
    group_by: UsageGrouping = UsageGrouping.PROVIDER


class DeliveryQuery(Query):
    """``GET /api/deliveries`` and ``genhook deliveries list``."""

    subscriber: Text | None = None
    status: DeliveryStatus | None = None
    task_id: Text | None = None
    event: Text | None = None
    limit: Limit = DEFAULT_PAGE
    cursor: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(
        default=None, description="``next_cursor`` of the previous page"
    )


class EventQuery(Query):
    """``GET /api/events``: which events to stream, and where to resume."""

    task_id: Text | None = Field(default=None, description="only this task's events")
    type: EventTypes = Field(
        default_factory=list, description="only these types (repeat or comma-separate)"
    )
    last_event_id: Text | None = Field(
        default=None, description="resume after this event (or the Last-Event-ID header)"
    )


class StatsQuery(Query):
    """``GET /stats``: which window the numbers cover."""

    window: Window = Field(default=Window.DAY, description="the last hour, day or week")
