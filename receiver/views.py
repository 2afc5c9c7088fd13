"""Stored rows as the public resources (:mod:`receiver.resources`).

One function per resource, so a webhook payload, ``GET /api/tasks/{id}``, the live
stream and ``genhook status`` can never disagree about what a task looks like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from receiver import resources
from receiver.assets.schedule import AssetStatus
from receiver.clock import iso
from receiver.delivery.schedule import DeliveryStatus
from receiver.lifecycle import EventType, Outcome, Source
from storage.models import (
    Asset,
    Attempt,
    Delivery,
    DeliveryAttempt,
    OutboxEvent,
    Snapshot,
    Subscriber,
    Task,
    Worker,
)

TASK_COLUMNS: tuple[str, ...] = tuple(Task.__table__.columns.keys())  # type: ignore[attr-defined]


def task_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The task as JSON-ready data, in the shape of :class:`resources.Task`.

    Built by hand rather than through the model because every event carries one and
    it is on the callback hot path: validating and dumping a pydantic model costs
    more than the rest of a callback's Python work. :func:`task` validates this very
    document into the model, and ``tests/unit/test_views.py`` holds the two equal.
    """
    error_code, error_message = row["error_code"], row["error_message"]
    return {
        "id": row["id"],
        "provider": row["provider"],
        "provider_task_id": row["provider_task_id"],
        "origin": row["origin"],
        "model": row["model"],
        "status": str(row["status"]),
        "result_urls": list(row["result_urls"]),
        # genhook's own copies (receiver.assets.mirror), in the same order; empty until
        # all result images are stored, then set together with task.assets_ready.
        "asset_urls": list(row["asset_urls"] or ()),
        "error": (
            {"code": error_code, "message": error_message} if error_code or error_message else None
        ),
        "credits": {
            "used": row["credits_used"],
            "refunded": row["credits_refunded"],
            "remaining": row["remaining_credits"],
        },
        "anomalies": list(row["anomalies"]),
        "last_source": str(row["last_source"]) if row["last_source"] else None,
        "request": row["request"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "submitted_at": iso(row["submitted_at"]),
        "terminal_at": iso(row["terminal_at"]),
        "deadline_at": iso(row["deadline_at"]),
        "provider_timing": {
            "created_at": iso(row["provider_created_at"]),
            "completed_at": iso(row["provider_completed_at"]),
            "cost_ms": row["provider_cost_ms"],
        },
        "result_expires_at": iso(row["result_expires_at"]),
        # The attempt that is current (the one a terminal event's result came from).
        "route": row["route"],
        "attempt": {
            "number": row["attempt"],
            "provider": row["provider"],
            "model": row["model"],
            "provider_task_id": row["provider_task_id"],
        },
    }


def task_row(task: Task) -> dict[str, Any]:
    """An ORM task as the plain row :func:`task_document` reads."""
    return {name: getattr(task, name) for name in TASK_COLUMNS}


def task(row: Task) -> resources.Task:
    return resources.Task.model_validate(task_document(task_row(row)))


class AttemptRecord(Protocol):
    """One provider try of a task as the dashboard's card and the CLI's table read it:
    an attempt row, or an item of the API's ``attempts`` (:class:`resources.Attempt`)."""

    @property
    def number(self) -> int: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def provider_task_id(self) -> str | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def late_outcome(self) -> str | None: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...
    @property
    def cost(self) -> float | None: ...
    @property
    def cost_unit(self) -> str | None: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def ended_at(self) -> datetime | None: ...


def task_attempt(row: Attempt) -> resources.Attempt:
    return resources.Attempt(
        number=row.number,
        provider=row.provider,
        model=row.model,
        provider_task_id=row.provider_task_id,
        outcome=row.outcome,
        late_outcome=row.late_outcome,
        error_code=row.error_code,
        error_message=row.error_message,
        result_urls=list(row.result_urls),
        images=row.images,
        credits_used=row.credits_used,
        credits_refunded=row.credits_refunded,
        remaining_credits=row.remaining_credits,
        estimate=row.estimate,
        cost=row.cost,
        cost_unit=row.cost_unit,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


def snapshot(row: Snapshot) -> resources.Snapshot:
    assert row.id is not None
    return resources.Snapshot(
        id=row.id,
        source=Source(row.source),
        received_at=row.received_at,
        outcome=Outcome(row.outcome),
        state=row.state,
        provider_task_id=row.provider_task_id,
        parse_errors=list(row.parse_errors),
        detail=row.detail,
        body=row.body.decode("utf-8", errors="replace") if row.body else None,
    )


def event(row: OutboxEvent) -> resources.Event:
    """The event as it was sent: its stored payload, read back through the schema."""
    return resources.Event.model_validate(row.payload)


def subscriber_event_payload(
    event_id: str, event_type: EventType, row: Subscriber, now: datetime
) -> dict[str, Any]:
    """What an operational event about a subscriber carries (never its secret)."""
    built = resources.SubscriberEvent(
        id=event_id, type=event_type, timestamp=now, data=subscriber(row)
    )
    return built.model_dump(mode="json")


def asset(row: Asset, base_url: str) -> resources.Asset:
    return resources.Asset(
        position=row.position + 1,
        status=AssetStatus(row.status),
        source_url=row.source_url,
        url=f"{base_url}/assets/{row.local_path}" if row.local_path else None,
        local_path=row.local_path,
        content_type=row.content_type,
        byte_size=row.byte_size,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        downloaded_at=row.downloaded_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        error=(
            resources.AssetProblem(code=row.error_code, message=row.error_message)
            if row.error_code
            else None
        ),
    )


def delivery(row: Delivery, event_type: str | None) -> resources.Delivery:
    assert row.id is not None
    return resources.Delivery(
        id=row.id,
        event_id=row.event_id,
        event_type=EventType(event_type) if event_type else None,
        subscriber_id=row.subscriber_id,
        task_id=row.task_id,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


def delivery_detail(
    row: Delivery, event_type: str | None, attempts: Sequence[DeliveryAttempt]
) -> resources.DeliveryDetail:
    fields = delivery(row, event_type).model_dump(exclude={"attempts"})
    return resources.DeliveryDetail(**fields, attempts=[attempt(a) for a in attempts])


def attempt(row: DeliveryAttempt) -> resources.DeliveryAttempt:
    return resources.DeliveryAttempt(
        number=row.number,
        attempted_at=row.attempted_at,
        status_code=row.status_code,
        latency_ms=row.latency_ms,
        error=row.error,
        response_body=row.response_body,
    )


def subscriber(row: Subscriber) -> resources.Subscriber:
    return resources.Subscriber(**_subscriber_fields(row))


def subscriber_with_secret(row: Subscriber) -> resources.SubscriberWithSecret:
    return resources.SubscriberWithSecret(**_subscriber_fields(row), secret=row.secret)


def _subscriber_fields(row: Subscriber) -> dict[str, object]:
    return {
        "id": row.id,
        "url": row.url,
        "event_types": [EventType(t) for t in row.event_types],
        "task_id": row.task_id,
        "active": row.active,
        "disabled_reason": row.disabled_reason,
        "disabled_at": row.disabled_at,
        "failing_since": row.failing_since,
        "rotating_until": row.previous_secret_expires_at if row.previous_secret else None,
        "created_at": row.created_at,
    }


def worker(row: Worker, holds: dict[str, int]) -> resources.Worker:
    jobs = [
        resources.JobStatus(
            name=name,
            every_seconds=float(job.get("every_seconds") or 0),
            last_ok_at=job.get("last_ok_at"),
            last_error=job.get("last_error"),
            last_error_at=job.get("last_error_at"),
        )
        for name, job in sorted(row.jobs.items())
    ]
    return resources.Worker(
        id=row.id,
        kind=row.kind,
        hostname=row.hostname,
        pid=row.pid,
        version=row.version,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        jobs=jobs,
        holds=resources.Held(**holds),
    )
