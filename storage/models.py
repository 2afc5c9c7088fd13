"""The tables: tasks, the inbox of snapshots, the outbox of events, downstream
deliveries, the mirrored result images (assets), and the live workers.

Schema changes go through Alembic (``storage/migrations``); these classes and the
migrations must agree, which ``tests/integration/test_migrations.py`` checks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.orm import relationship
from sqlmodel import Field, Relationship, SQLModel
from ulid import ULID

from storage.types import UTCDateTime


def new_task_id() -> str:
    """Sortable, URL-safe task id (``tsk_`` + ULID)."""
    return f"tsk_{ULID()}"


def new_event_id() -> str:
    """Event id, the idempotency key downstream (``webhook-id``)."""
    return f"evt_{ULID()}"


class Task(SQLModel, table=True):
    """One image-generation job, whoever created it.

    ``origin`` says how genhook learned of it: ``submit`` (we created it at the
    provider), ``track`` (adopted by provider task id) or ``receiver`` (the app
    submits itself and only asked us for a callback URL).
    """

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("provider", "provider_task_id", name="uq_tasks_provider_task"),
        UniqueConstraint("idempotency_key", name="uq_tasks_idempotency_key"),
        Index("ix_tasks_next_poll_at", "next_poll_at"),
        Index("ix_tasks_status", "status"),
        Index("ix_tasks_created_at", "created_at"),
    )

    id: str = Field(default_factory=new_task_id, primary_key=True, max_length=40)
    provider: str = Field(max_length=32)
    provider_task_id: str | None = Field(default=None, max_length=200)
    origin: str = Field(default="submit", max_length=16)
    model: str | None = Field(default=None, max_length=200)
    request: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    status: str = Field(max_length=16)
    result_urls: list[str] = Field(default_factory=list, sa_type=JSON)
    error_code: str | None = Field(default=None, sa_type=Text)
    error_message: str | None = Field(default=None, sa_type=Text)
    credits_used: float | None = None
    credits_refunded: float | None = None
    remaining_credits: float | None = None
    anomalies: list[str] = Field(default_factory=list, sa_type=JSON)

    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    terminal_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_cost_ms: int | None = None
    result_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_source: str | None = Field(default=None, max_length=16)
    # Our own copies of the result images (receiver.assets.mirror): set once all are stored.
    asset_urls: list[str] | None = Field(default=None, sa_type=JSON)
    # The submitter's Idempotency-Key, and a hash of the request that came with it: the
    # same key with the same request is the same task, with another one a conflict.
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_fingerprint: str | None = Field(default=None, max_length=64)

    deadline_at: datetime = Field(sa_type=UTCDateTime)
    # Creates sent to the provider so far (receiver.settlement reads it to resubmit at
    # most once where a resubmission could bill twice).
    create_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    poll_attempts: int = 0
    lease_holder: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Routes (receiver.routes): the route a job was submitted to, its targets as
    # resolved then (provider, model, mapped params; later edits of the route do not
    # move a task in flight), the attempt now current (1-based: attempts.number) and,
    # while it waits for its next target, since when (the rerouter's claim).
    route: str | None = Field(default=None, max_length=64)
    route_plan: list[dict[str, Any]] | None = Field(default=None, sa_type=JSON)
    attempt: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    reroute_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Attempt(SQLModel, table=True):
    """One try of a task at one provider, and what it cost (the ledger's rows).

    A task has one attempt per target it was sent to, or refused for (``refused``:
    never sent, e.g. over budget). ``outcome`` is how the attempt ended while it was
    current; ``late_outcome`` what its provider reported after genhook had moved on.
    ``cost`` is what the attempt cost in ``cost_unit`` once known (API Mall's
    ``credits_used - credits_refunded``, elsewhere the configured price per image);
    ``estimate`` what it was expected to cost when sent, which budgets count until
    then.
    """

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("task_id", "number", name="uq_attempts_task_number"),
        Index("ix_attempts_provider_started", "provider", "started_at"),
        Index("ix_attempts_started_at", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(foreign_key="tasks.id", max_length=40)
    number: int
    provider: str = Field(max_length=32)
    model: str | None = Field(default=None, max_length=200)
    provider_task_id: str | None = Field(default=None, max_length=200)
    outcome: str = Field(default="running", max_length=16)
    late_outcome: str | None = Field(default=None, max_length=16)
    error_code: str | None = Field(default=None, sa_type=Text)
    error_message: str | None = Field(default=None, sa_type=Text)
    result_urls: list[str] = Field(default_factory=list, sa_type=JSON)
    images: int | None = None
    credits_used: float | None = None
    credits_refunded: float | None = None
    remaining_credits: float | None = None
    estimate: float | None = None
    cost: float | None = None
    cost_unit: str = Field(default="USD", max_length=16)
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Snapshot(SQLModel, table=True):
    """The inbox: every callback body received and every poll result, with its outcome.

    Rows are never updated or deleted by the service: this is the audit trail that
    lets an operator see exactly what a provider said and what genhook did with it.
    ``body`` is kept byte for byte, so even a body we could not read is inspectable.
    """

    __tablename__ = "snapshots"

    id: int | None = Field(default=None, primary_key=True)
    task_id: str | None = Field(default=None, foreign_key="tasks.id", index=True, max_length=40)
    provider: str = Field(max_length=32)
    source: str = Field(max_length=16)
    received_at: datetime = Field(sa_type=UTCDateTime)
    outcome: str = Field(max_length=16)
    state: str | None = Field(default=None, max_length=64)
    provider_task_id: str | None = Field(default=None, max_length=200)
    body: bytes | None = Field(default=None, sa_type=LargeBinary)
    parse_errors: list[str] = Field(default_factory=list, sa_type=JSON)
    detail: str | None = Field(default=None, sa_type=Text)


class OutboxEvent(SQLModel, table=True):
    """An event waiting to be delivered downstream: a task's, or (``task_id`` NULL) an
    operational one such as ``subscriber.disabled``.

    ``seq`` orders events for the live stream; ``id`` is the stable public event id.
    """

    __tablename__ = "outbox"

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(default_factory=new_event_id, unique=True, max_length=40)
    task_id: str | None = Field(default=None, foreign_key="tasks.id", index=True, max_length=40)
    type: str = Field(max_length=40)
    created_at: datetime = Field(sa_type=UTCDateTime)
    payload: dict[str, Any] = Field(sa_type=JSON)


def new_subscriber_id() -> str:
    """Subscriber id (``sub_`` + ULID)."""
    return f"sub_{ULID()}"


class Subscriber(SQLModel, table=True):
    """A downstream system that receives signed webhooks.

    ``event_types`` empty means every type. ``task_id`` set: a webhook given with that
    task's submission, which receives that task's events only. During a secret
    rotation ``previous_secret`` still signs (next to ``secret``) until
    ``previous_secret_expires_at``. ``failing_since`` is the start of the current run
    of failed attempts (NULL after any success); the dispatcher disables a
    subscriber whose run lasts too long.
    """

    __tablename__ = "subscribers"
    __table_args__ = (Index("ix_subscribers_task_id", "task_id"),)

    id: str = Field(default_factory=new_subscriber_id, primary_key=True, max_length=40)
    url: str = Field(sa_type=Text)
    secret: str = Field(max_length=200)
    previous_secret: str | None = Field(default=None, max_length=200)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    event_types: list[str] = Field(default_factory=list, sa_type=JSON)
    task_id: str | None = Field(
        default=None,
        sa_column_args=[ForeignKey("tasks.id", name="fk_subscribers_task_id")],
        max_length=40,
    )
    active: bool = True
    disabled_reason: str | None = Field(default=None, sa_type=Text)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """One event on its way to one subscriber: written with the event, then claimed.

    ``next_attempt_at`` is the claim's due column: NULL once the delivery is finished
    (succeeded or dead), so finished rows never enter the claim's index range.
    ``id`` orders deliveries of one (task, subscriber): a later one waits while an
    earlier one is pending (see ``receiver.delivery.dispatcher``). ``attempts`` counts the
    attempts of the current run; a replay starts a new run at 0, the history stays in
    ``delivery_attempts``.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscriber_id", name="uq_deliveries_event_subscriber"),
        Index("ix_deliveries_next_attempt_at", "next_attempt_at"),
        Index("ix_deliveries_task_subscriber", "task_id", "subscriber_id", "id"),
        Index("ix_deliveries_subscriber", "subscriber_id", "id"),
        Index("ix_deliveries_status", "status"),
        Index("ix_deliveries_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(foreign_key="outbox.id", max_length=40)
    subscriber_id: str = Field(foreign_key="subscribers.id", max_length=40)
    task_id: str | None = Field(default=None, foreign_key="tasks.id", max_length=40)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_holder: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    # Only so the unit of work inserts an event before its deliveries when both are
    # flushed together (batched ingest runs with autoflush off); never loaded.
    event: OutboxEvent | None = Relationship(
        sa_relationship=relationship(OutboxEvent, lazy="raise")
    )


class DeliveryAttempt(SQLModel, table=True):
    """One HTTP attempt of a delivery, kept for the operator: what the subscriber said."""

    __tablename__ = "delivery_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id", index=True)
    number: int
    attempted_at: datetime = Field(sa_type=UTCDateTime)
    status_code: int | None = None
    latency_ms: int
    error: str | None = Field(default=None, sa_type=Text)
    response_body: str | None = Field(default=None, sa_type=Text)


class Asset(SQLModel, table=True):
    """One result image of a completed task, and what mirroring it came to.

    Written with the ``task.completed`` event (``status`` pending, due now), then
    claimed by the mirror like polls and deliveries: ``next_attempt_at`` is the due
    column and is NULL once the image is ``stored``, ``refused`` or ``failed``.
    ``local_path`` is the path under the asset store's root (``<task id>/<n>.<ext>``),
    which is also the key in a remote store. ``expires_at`` is the provider's
    ``expires_at`` for the URL, the mirror's retry deadline when known.
    """

    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("task_id", "position", name="uq_assets_task_position"),
        Index("ix_assets_next_attempt_at", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(foreign_key="tasks.id", max_length=40)
    position: int
    source_url: str = Field(sa_type=Text)
    status: str = Field(default="pending", max_length=16)
    local_path: str | None = Field(default=None, max_length=200)
    content_type: str | None = Field(default=None, max_length=40)
    byte_size: int | None = Field(default=None, sa_type=BigInteger)
    sha256: str | None = Field(default=None, max_length=64)
    width: int | None = None
    height: int | None = None
    downloaded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error_code: str | None = Field(default=None, max_length=40)
    error_message: str | None = Field(default=None, sa_type=Text)
    lease_holder: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Worker(SQLModel, table=True):
    """A process running background jobs, as its last heartbeat described it.

    ``id`` is the lease holder name it claims work with (``host:pid``), so what it
    holds is found by that name in the claimable tables. ``jobs`` maps each job's
    name to ``{"every_seconds", "last_ok_at", "last_error"}``. A row whose
    ``heartbeat_at`` is old belongs to a process that died; a clean stop deletes it.
    """

    __tablename__ = "workers"

    id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(max_length=16)
    hostname: str = Field(max_length=255)
    pid: int
    version: str = Field(max_length=40)
    started_at: datetime = Field(sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime)
    jobs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
