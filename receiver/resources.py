"""What genhook sends: every API response, event payload and client result, as types.

The handlers build their answers from these models, events carry :class:`Task` as
their ``data``, the OpenAPI document is generated from their JSON Schemas and the
Python client returns them, so what is documented is by construction what is sent.
``extra="forbid"`` makes every schema closed (``additionalProperties: false``): a
field sent but not declared fails the schema-conformance test instead of drifting.

Pure pydantic and light imports on purpose: the client and the CLI import this
module, and neither should pay for SQLAlchemy. Rows become resources in
:mod:`receiver.views`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from receiver.assets.schedule import AssetStatus
from receiver.delivery.schedule import DeliveryStatus
from receiver.lifecycle import EventType, Outcome, Source, Status

__all__ = [
    "Asset",
    "AssetProblem",
    "CallbackAck",
    "CallbackUrl",
    "Credits",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryDetail",
    "DeliveryPage",
    "DisabledSubscriber",
    "Error",
    "ErrorBody",
    "Event",
    "Health",
    "Held",
    "JobStatus",
    "ProviderTiming",
    "ReplayResult",
    "Resource",
    "Snapshot",
    "StuckTask",
    "StuckTaskList",
    "SubmittedTask",
    "Subscriber",
    "SubscriberEvent",
    "SubscriberList",
    "SubscriberWithSecret",
    "Task",
    "TaskDetail",
    "TaskError",
    "TaskPage",
    "Worker",
    "WorkerList",
]


class Resource(BaseModel):
    """Base of every resource: closed schemas, enums sent as their values."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    def to_json(self) -> bytes:
        """The JSON bytes sent on the wire (pydantic-core, no intermediate dict)."""
        return self.__pydantic_serializer__.to_json(self)


class ErrorBody(Resource):
    code: str = Field(description="one word for what went wrong, stable across releases")
    message: str = Field(description="what went wrong, for a person")
    field: str | None = Field(default=None, description="the request field to blame")
    task_id: str | None = Field(default=None, description="a task recorded for the request")
    limit: int | None = Field(default=None, description="the limit that was exceeded")


class Error(Resource):
    """Every error genhook answers has this shape."""

    error: ErrorBody


class Health(Resource):
    status: str


class TaskError(Resource):
    code: str | None
    message: str | None


class Credits(Resource):
    used: float | None = None
    refunded: float | None = None
    remaining: float | None = None


class ProviderTiming(Resource):
    created_at: datetime | None = None
    completed_at: datetime | None = None
    cost_ms: int | None = None


class CurrentAttempt(Resource):
    """Which provider try of a task is current (a routed task has one per target)."""

    number: int = Field(description="1 for the first; attempts[number - 1] in the task view")
    provider: str
    model: str | None
    provider_task_id: str | None


class Task(Resource):
    """The normalized task, as ``GET /api/tasks/{id}`` shows it and every event carries it."""

    id: str
    provider: str
    provider_task_id: str | None
    origin: str = Field(description="submit, track or receiver: how genhook learned of it")
    model: str | None
    status: Status
    result_urls: list[str] = Field(description="the provider's result URLs")
    asset_urls: list[str] = Field(
        description="genhook's own copies, in the same order; set once every image is stored"
    )
    error: TaskError | None
    credits: Credits
    anomalies: list[str]
    last_source: Source | None
    request: dict[str, Any] | None = Field(description="what was sent to the provider")
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    terminal_at: datetime | None
    deadline_at: datetime
    provider_timing: ProviderTiming
    result_expires_at: datetime | None
    route: str | None = Field(description="the route it was submitted to, if any")
    attempt: CurrentAttempt = Field(
        description="the attempt now current: the one a terminal event's result is from"
    )


class Attempt(Resource):
    """One try of a task at one provider, and what it cost (the ledger's row)."""

    number: int
    provider: str
    model: str | None
    provider_task_id: str | None
    outcome: str = Field(
        description="running, completed, failed, expired, or refused (never sent: over "
        "budget, circuit open, params it cannot take)"
    )
    late_outcome: str | None = Field(
        description="what the provider reported after the task had moved on (never applied)"
    )
    error_code: str | None
    error_message: str | None
    result_urls: list[str]
    images: int | None
    credits_used: float | None
    credits_refunded: float | None
    remaining_credits: float | None
    estimate: float | None = Field(description="expected cost when sent (budgets count it)")
    cost: float | None = Field(description="settled cost in cost_unit, once known")
    cost_unit: str
    started_at: datetime
    ended_at: datetime | None


class UsageRow(Resource):
    """The cost of a group of attempts, in one unit."""

    key: str = Field(description="provider, provider/model, or YYYY-MM-DD by group_by")
    provider: str
    unit: str
    attempts: int
    images: int
    cost: float


class Usage(Resource):
    """``GET /api/usage``: what attempts cost, grouped."""

    group_by: str
    since: datetime | None
    until: datetime | None
    rows: list[UsageRow]


class RouteTarget(Resource):
    provider: str
    model: str
    fields: dict[str, str] = Field(description="route field -> this gateway's field")


class RouteView(Resource):
    """A route: a name and its targets, tried in order."""

    name: str
    description: str
    targets: list[RouteTarget]


class RouteList(Resource):
    routes: list[RouteView]


class Snapshot(Resource):
    """One callback or poll answer as received, with what it did to the task."""

    id: int
    source: Source
    received_at: datetime
    outcome: Outcome
    state: str | None
    provider_task_id: str | None
    parse_errors: list[str]
    detail: str | None
    body: str | None = Field(description="the raw body (UTF-8, invalid bytes replaced)")


class Event(Resource):
    """One task event: the webhook body and the live stream's ``data``."""

    id: str = Field(description="stable across retries: the receiver's idempotency key")
    type: EventType
    timestamp: datetime
    data: Task


class AssetProblem(Resource):
    code: str
    message: str | None


class Asset(Resource):
    """One result image and what mirroring it came to."""

    position: int = Field(
        description="the image's number, from 1 (as in its URL, the dashboard and downloads)"
    )
    status: AssetStatus
    source_url: str
    url: str | None = Field(description="genhook's copy, once stored")
    local_path: str | None
    content_type: str | None
    byte_size: int | None
    sha256: str | None
    width: int | None
    height: int | None
    downloaded_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    error: AssetProblem | None


class Delivery(Resource):
    """One event on its way to one subscriber."""

    id: int
    event_id: str
    event_type: EventType | None
    subscriber_id: str
    task_id: str | None = Field(description="null for operational events (subscriber.disabled)")
    status: DeliveryStatus
    attempts: int = Field(description="attempts in the current run (a replay starts at 0)")
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryAttempt(Resource):
    number: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    response_body: str | None = Field(description="the first KiB of the subscriber's answer")


class DeliveryDetail(Delivery):
    """A delivery with its whole attempt history (``attempts`` is the list here)."""

    attempts: list[DeliveryAttempt]  # type: ignore[assignment]


class TaskDetail(Task):
    """A task with everything that happened to it."""

    attempts: list[Attempt] = Field(description="each provider try, in order (the ledger)")
    snapshots: list[Snapshot]
    events: list[Event]
    deliveries: list[Delivery]
    assets: list[Asset]


class StuckTask(Task):
    """An unfinished task past its expected time, and why it is not finished."""

    stuck_reason: str


class StuckTaskList(Resource):
    tasks: list[StuckTask] = Field(description="oldest first")


class TaskPage(Resource):
    tasks: list[Task]
    next_cursor: str | None = Field(description="pass as ``cursor`` for the next page")


class DeliveryPage(Resource):
    deliveries: list[Delivery]
    next_cursor: int | None = Field(description="pass as ``cursor`` for the next page")


class Subscriber(Resource):
    id: str
    url: str
    event_types: list[EventType] = Field(
        description="empty: every task event; subscriber.disabled only when listed"
    )
    task_id: str | None = Field(
        description="set for a webhook given with a task's submission: that task's events only"
    )
    active: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    rotating_until: datetime | None = Field(
        description="while a rotation lasts, the old secret signs too, until then"
    )
    created_at: datetime


class SubscriberEvent(Resource):
    """An operational event about a subscriber (``subscriber.disabled``), without its secret."""

    id: str
    type: EventType
    timestamp: datetime
    data: Subscriber


class SubscriberWithSecret(Subscriber):
    secret: str = Field(description="whsec_<base64>: verify webhooks with it")


class SubmittedTask(Task):
    """What ``POST /api/tasks`` answers: the task, and the webhook given with it."""

    webhook: SubscriberWithSecret | None = Field(
        description="the task's own subscriber, with the secret its webhooks are signed with"
    )


class DisabledSubscriber(Subscriber):
    dead_lettered: int = Field(description="pending deliveries dead-lettered by disabling")


class SubscriberList(Resource):
    subscribers: list[Subscriber]


class CallbackUrl(Resource):
    task_id: str
    provider: str
    callback_url: str


class ReplayResult(Resource):
    requeued: int


class CallbackAck(Resource):
    """What a provider's callback was taken as (always after a durable commit)."""

    status: Outcome
    task_id: str


class JobStatus(Resource):
    """One background job of a worker, as its last heartbeat reported it."""

    name: str
    every_seconds: float
    last_ok_at: datetime | None = Field(description="end of its last successful run")
    last_error: str | None = Field(description="what its last failed run raised")
    last_error_at: datetime | None


class Held(Resource):
    """Rows a worker holds leases on right now (work in progress)."""

    tasks: int = Field(description="tasks being polled")
    deliveries: int = Field(description="webhooks being sent")
    assets: int = Field(description="images being downloaded")


class Worker(Resource):
    """A live process running background jobs."""

    id: str = Field(description="host:pid, the name it holds leases under")
    kind: str = Field(description="serve (web and jobs) or worker (jobs only)")
    hostname: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    jobs: list[JobStatus]
    holds: Held


class WorkerList(Resource):
    workers: list[Worker]
