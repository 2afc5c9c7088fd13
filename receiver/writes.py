"""One batch of snapshots written with precompiled Core statements, no unit of work.

This is the callback hot path's database half, and the poller's and submitter's
too (:func:`receiver.ingest.ingest_batch`). Per batch, whatever its size:

1. one ``SELECT ... WHERE id IN (...)`` loads the batch's tasks as plain rows
   (locked with ``FOR UPDATE`` on PostgreSQL; on SQLite the writer holds the lock);
2. ``lifecycle.apply`` decides, on plain state, what each snapshot does;
3. one ``executemany`` per table: task updates, inbox rows, outbox events (their
   payload built as a plain document and encoded once by the engine's orjson
   serializer), webhook deliveries, images to mirror.

It is synchronous code on a SQLAlchemy :class:`~sqlalchemy.engine.Connection`, so
the same function runs inside an async session (``run_sync``, one round trip per
statement) and in a dedicated SQLite writer thread (the whole batch in one hop).
It commits nothing: the caller's transaction decides, and the topics it wrote work
for (:class:`receiver.wakeups.Topic`) are returned for the caller to announce.

Rows are written in task-id order by the callers, so concurrent writers in other
processes lock rows in the same order and cannot deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from receiver import metrics
from receiver.assets.schedule import AssetStatus
from receiver.clock import iso
from receiver.delivery.schedule import DeliveryStatus
from receiver.lifecycle import EventType, Outcome, Source, Status, TaskSnapshot, TaskState, apply
from receiver.views import task_document
from receiver.wakeups import Topic
from storage.models import Asset, Delivery, OutboxEvent, Snapshot, Subscriber, Task, new_event_id

log = logging.getLogger(__name__)

TASKS = Task.__table__  # type: ignore[attr-defined]
SNAPSHOTS = Snapshot.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]
DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]
ASSETS = Asset.__table__  # type: ignore[attr-defined]
SUBSCRIBERS = Subscriber.__table__  # type: ignore[attr-defined]

# Gateways return one to six images; a longer list is a provider bug, not a result.
MAX_IMAGES_PER_TASK = 100

# What a snapshot may change on its task (the lifecycle's fields), plus bookkeeping.
MUTABLE = (
    "status",
    "provider_task_id",
    "result_urls",
    "error_code",
    "error_message",
    "credits_used",
    "credits_refunded",
    "remaining_credits",
    "provider_created_at",
    "provider_completed_at",
    "provider_cost_ms",
    "result_expires_at",
    "terminal_at",
    "last_source",
    "anomalies",
    "model",
    "request",
    "updated_at",
    "next_poll_at",
    "lease_holder",
    "lease_expires_at",
)

LOAD_TASKS = select(TASKS).where(TASKS.c.id.in_(bindparam("ids", expanding=True))).with_for_update()
UPDATE_TASKS = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in MUTABLE})
)
INSERT_SNAPSHOTS = insert(SNAPSHOTS)
INSERT_OUTBOX = insert(OUTBOX)
INSERT_DELIVERIES = insert(DELIVERIES)
INSERT_ASSETS = insert(ASSETS)
# Subscribers of every task; a task's own webhook (a subscriber scoped to it) apart.
ACTIVE_SUBSCRIBERS = select(SUBSCRIBERS.c.id, SUBSCRIBERS.c.event_types).where(
    SUBSCRIBERS.c.active, SUBSCRIBERS.c.task_id.is_(None)
)
ANY_TASK_WEBHOOK = (
    select(SUBSCRIBERS.c.id)
    .where(SUBSCRIBERS.c.active, SUBSCRIBERS.c.task_id.is_not(None))
    .limit(1)
)
TASK_WEBHOOKS = select(SUBSCRIBERS.c.id, SUBSCRIBERS.c.event_types, SUBSCRIBERS.c.task_id).where(
    SUBSCRIBERS.c.active, SUBSCRIBERS.c.task_id.in_(bindparam("ids", expanding=True))
)
PENDING_LEADERS = (
    select(DELIVERIES.c.task_id, DELIVERIES.c.subscriber_id, func.max(DELIVERIES.c.next_attempt_at))
    .where(
        DELIVERIES.c.task_id.in_(bindparam("ids", expanding=True)),
        DELIVERIES.c.status == DeliveryStatus.PENDING.value,
    )
    .group_by(DELIVERIES.c.task_id, DELIVERIES.c.subscriber_id)
)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a provider told us about a task, ready to be written.

    ``snapshot`` is None when the body could not be read at all: it is then kept in
    quarantine with ``detail`` saying why.
    """

    task_id: str
    provider: str
    source: Source
    snapshot: TaskSnapshot | None
    body: bytes | None = None
    parse_errors: tuple[str, ...] = ()
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    task_id: str
    event_id: str | None = None
    detail: str | None = None


@dataclass
class Written:
    """What one batch wrote: a result per inbound, in order, who to wake, and what
    to count once it is committed (:mod:`receiver.metrics`)."""

    results: list[IngestResult] = field(default_factory=list)
    topics: set[str] = field(default_factory=set)
    counts: list[Callable[[], None]] = field(default_factory=list)


@dataclass
class Rows:
    """The statements' parameters, gathered while the batch is applied."""

    inbox: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    assets: list[dict[str, Any]] = field(default_factory=list)
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)


def write_batch(
    connection: Connection,
    inbounds: Sequence[Inbound],
    now: datetime,
    *,
    unreadable: Outcome = Outcome.QUARANTINED,
) -> Written:
    """Write ``inbounds`` in order inside the connection's transaction; commits nothing."""
    written = Written()
    if not inbounds:  # an empty parameter list would INSERT one row of defaults
        return written
    ids = sorted({inbound.task_id for inbound in inbounds})
    tasks = {
        row["id"]: dict(row) for row in connection.execute(LOAD_TASKS, {"ids": ids}).mappings()
    }
    rows = Rows()
    fanout = Fanout(connection, now, ids)
    for raw in inbounds:
        inbound = storable(raw)
        task = tasks.get(inbound.task_id)
        result = _apply_one(inbound, task, now, unreadable, rows, fanout, written)
        rows.inbox.append(_inbox_row(inbound, task, result, now))
        written.results.append(result)
    written.topics = execute(connection, rows)
    return written


def _apply_one(
    inbound: Inbound,
    task: dict[str, Any] | None,
    now: datetime,
    unreadable: Outcome,
    rows: Rows,
    fanout: Fanout,
    written: Written,
) -> IngestResult:
    about = {"task_id": inbound.task_id, "provider": inbound.provider}
    if task is None or inbound.snapshot is None:
        detail = inbound.detail if task is not None else f"no task {inbound.task_id!r}"
        log.warning(
            "%s %s body for task %s: %s",
            unreadable,
            inbound.source,
            inbound.task_id,
            detail,
            extra=about,
        )
        return IngestResult(unreadable, inbound.task_id, detail=detail)
    transition = apply(task_state(task), inbound.snapshot)
    if transition.outcome is Outcome.IGNORED:
        log.warning("task %s: %s", task["id"], transition.detail, extra=about)
    if transition.changes:
        _change(task, transition.changes, now)
        rows.changed[task["id"]] = task
        if "status" in transition.changes:
            written.counts.append(
                metrics.transition_count(
                    task["provider"],
                    task["status"],
                    inbound.source.value,
                    model=task["model"],
                    started_at=task["submitted_at"] or task["created_at"],
                    terminal_at=task["terminal_at"],
                )
            )
    event_id = None
    if transition.event is not None:
        event_id = fanout.event(task, transition.event, rows)
    return IngestResult(transition.outcome, task["id"], event_id, transition.detail)


def task_state(task: Mapping[str, Any]) -> TaskState:
    """The lifecycle's view of a stored task row."""
    return TaskState(
        status=Status(task["status"]),
        provider_task_id=task["provider_task_id"],
        result_urls=tuple(task["result_urls"]),
        error_code=task["error_code"],
        error_message=task["error_message"],
        credits_used=task["credits_used"],
        credits_refunded=task["credits_refunded"],
        remaining_credits=task["remaining_credits"],
        provider_created_at=task["provider_created_at"],
        provider_completed_at=task["provider_completed_at"],
        provider_cost_ms=task["provider_cost_ms"],
        result_expires_at=task["result_expires_at"],
        terminal_at=task["terminal_at"],
        last_source=Source(task["last_source"]) if task["last_source"] else None,
        anomalies=tuple(task["anomalies"]),
        model=task["model"],
        request=task["request"],
    )


def _change(task: dict[str, Any], changes: Mapping[str, Any], now: datetime) -> None:
    for name, value in changes.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, Status | Source):
            value = value.value
        task[name] = value
    task["updated_at"] = now
    if Status(task["status"]).is_terminal:
        task["terminal_at"] = task["terminal_at"] or now
        # Nothing left to poll for: drop out of the poller's index range.
        task["next_poll_at"] = None
        task["lease_holder"] = None
        task["lease_expires_at"] = None


class Fanout:
    """Outbox rows and what hangs off them: a delivery per interested subscriber (read
    once per batch), an asset row per result image of a completion."""

    def __init__(self, connection: Connection, now: datetime, task_ids: Sequence[str]) -> None:
        self._connection = connection
        self._now = now
        self._task_ids = task_ids
        self._subscribers: list[tuple[str, list[str]]] | None = None
        self._task_webhooks: dict[str, list[tuple[str, list[str]]]] | None = None
        self._leaders: dict[tuple[str, str], datetime | None] | None = None

    def event(self, task: dict[str, Any], event_type: EventType, rows: Rows) -> str:
        event_id = new_event_id()
        now = self._now
        payload = {
            "id": event_id,
            "type": event_type.value,
            "timestamp": iso(now),
            "data": task_document(task),
        }
        rows.events.append(
            {
                "id": event_id,
                "task_id": task["id"],
                "type": event_type.value,
                "created_at": now,
                "payload": payload,
            }
        )
        for subscriber_id in self._wanting(event_type.value, task["id"]):
            leader = self._leader(task["id"], subscriber_id)
            rows.deliveries.append(
                {
                    "event_id": event_id,
                    "subscriber_id": subscriber_id,
                    "task_id": task["id"],
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    # a delivery that starts behind a waiting one goes after it
                    "next_attempt_at": leader if leader is not None and leader > now else now,
                    "created_at": now,
                }
            )
        if event_type is EventType.COMPLETED:
            rows.assets.extend(_asset_rows(task, now))
        return event_id

    def _wanting(self, event_type: str, task_id: str) -> list[str]:
        """Subscribers of every task (read once per batch) and the task's own webhook
        (looked up only while any task webhook is active) that want ``event_type``."""
        if self._subscribers is None:
            connection = self._connection
            self._subscribers = [
                (row.id, list(row.event_types)) for row in connection.execute(ACTIVE_SUBSCRIBERS)
            ]
            self._task_webhooks = {}
            if connection.execute(ANY_TASK_WEBHOOK).first() is not None:
                found = connection.execute(TASK_WEBHOOKS, {"ids": list(self._task_ids)})
                for row in found:
                    self._task_webhooks.setdefault(row.task_id, []).append(
                        (row.id, list(row.event_types))
                    )
        assert self._task_webhooks is not None
        candidates = [*self._subscribers, *self._task_webhooks.get(task_id, ())]
        return [s for s, types in candidates if not types or event_type in types]

    def _leader(self, task_id: str, subscriber_id: str) -> datetime | None:
        """When the latest pending delivery of (task, subscriber) is due, if any."""
        if self._leaders is None:
            found = self._connection.execute(PENDING_LEADERS, {"ids": list(self._task_ids)})
            self._leaders = {(row[0], row[1]): row[2] for row in found}
        return self._leaders.get((task_id, subscriber_id))


def _asset_rows(task: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    urls = list(task["result_urls"])
    if len(urls) > MAX_IMAGES_PER_TASK:
        log.warning(
            "task %s has %d result URLs; mirroring the first %d",
            task["id"],
            len(urls),
            MAX_IMAGES_PER_TASK,
        )
    return [
        {
            "task_id": task["id"],
            "position": position,
            "source_url": url,
            "status": AssetStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "expires_at": task["result_expires_at"],
            "created_at": now,
            "updated_at": now,
        }
        for position, url in enumerate(urls[:MAX_IMAGES_PER_TASK])
    ]


def _inbox_row(
    inbound: Inbound, task: Mapping[str, Any] | None, result: IngestResult, now: datetime
) -> dict[str, Any]:
    snapshot = inbound.snapshot
    return {
        "task_id": task["id"] if task is not None else None,
        "provider": inbound.provider,
        "source": inbound.source.value,
        "received_at": now,
        "outcome": result.outcome.value,
        "state": snapshot.state[:64] if snapshot else None,
        "provider_task_id": snapshot.provider_task_id if snapshot else None,
        "body": inbound.body,
        "parse_errors": list(inbound.parse_errors),
        "detail": result.detail,
    }


def execute(connection: Connection, rows: Rows) -> set[str]:
    """One statement per table, parents before children (the foreign keys); returns
    the topics of the work written."""
    if rows.changed:
        connection.execute(
            UPDATE_TASKS,
            [
                {"b_id": task_id, **{f"b_{name}": task[name] for name in MUTABLE}}
                for task_id, task in sorted(rows.changed.items())
            ],
        )
    topics = set()
    if rows.inbox:
        connection.execute(INSERT_SNAPSHOTS, rows.inbox)
    if rows.events:
        connection.execute(INSERT_OUTBOX, rows.events)
        topics.add(Topic.EVENTS.value)
    if rows.deliveries:
        connection.execute(INSERT_DELIVERIES, rows.deliveries)
        topics.add(Topic.DELIVERIES.value)
    if rows.assets:
        connection.execute(INSERT_ASSETS, rows.assets)
        topics.add(Topic.ASSETS.value)
    return topics


def storable(inbound: Inbound) -> Inbound:
    """Drop NUL characters a provider may send: PostgreSQL text cannot hold them, and a
    write that always fails would leave the provider retrying for nothing. The raw
    body (bytes) keeps them."""
    snapshot = inbound.snapshot
    if snapshot is None:
        return inbound
    texts: dict[str, object] = {
        name: value.replace("\x00", "")
        for name in ("state", "provider_task_id", "error_code", "error_message")
        if isinstance(value := getattr(snapshot, name), str) and "\x00" in value
    }
    if any("\x00" in url for url in snapshot.result_urls):
        texts["result_urls"] = tuple(url.replace("\x00", "") for url in snapshot.result_urls)
    return replace(inbound, snapshot=replace(snapshot, **texts)) if texts else inbound  # type: ignore[arg-type]
