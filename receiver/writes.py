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

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from receiver import attempt_rows, fitting, metrics
from receiver.assets.schedule import AssetStatus
from receiver.clock import iso
from receiver.delivery.schedule import DeliveryStatus
from receiver.lifecycle import (
    EventType,
    Outcome,
    Source,
    Status,
    TaskSnapshot,
    TaskState,
    apply,
    normalize_state,
)
from receiver.routes.costs import EMPTY_LEDGER, Ledger
from receiver.views import task_document
from receiver.wakeups import Topic
from storage.models import (
    Asset,
    Attempt,
    Delivery,
    OutboxEvent,
    Snapshot,
    Subscriber,
    Task,
    new_event_id,
)

log = logging.getLogger(__name__)

Owners = dict[tuple[str, str], str]  # (provider, provider task id) -> our task id

TASKS = Task.__table__  # type: ignore[attr-defined]
SNAPSHOTS = Snapshot.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]
DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]
ASSETS = Asset.__table__  # type: ignore[attr-defined]
SUBSCRIBERS = Subscriber.__table__  # type: ignore[attr-defined]
ATTEMPTS = Attempt.__table__  # type: ignore[attr-defined]

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
    "provider",
    "attempt",
    "reroute_at",
)

LOAD_TASKS = select(TASKS).where(TASKS.c.id.in_(bindparam("ids", expanding=True))).with_for_update()
UPDATE_TASKS = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in MUTABLE})
)
UPDATE_ATTEMPTS = (
    update(ATTEMPTS)
    .where(ATTEMPTS.c.task_id == bindparam("a_task_id"), ATTEMPTS.c.number == bindparam("a_number"))
    .values({name: bindparam(f"a_{name}") for name in attempt_rows.CURRENT_FIELDS})
)
UPDATE_LATE_ATTEMPTS = (
    update(ATTEMPTS)
    .where(
        ATTEMPTS.c.task_id == bindparam("a_task_id"),
        ATTEMPTS.c.provider == bindparam("a_provider"),
        ATTEMPTS.c.number < bindparam("a_before"),
    )
    .values({name: bindparam(f"a_{name}") for name in attempt_rows.LATE_FIELDS})
)
LAST_BALANCE = (
    select(ATTEMPTS.c.remaining_credits)
    .where(ATTEMPTS.c.provider == bindparam("provider"), ATTEMPTS.c.remaining_credits.is_not(None))
    .order_by(ATTEMPTS.c.id.desc())
    .limit(1)
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
    attempts: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    late_attempts: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[str, float | None] = field(default_factory=dict)  # provider -> last seen
    rerouted: bool = False


def write_batch(
    connection: Connection,
    inbounds: Sequence[Inbound],
    now: datetime,
    *,
    unreadable: Outcome = Outcome.QUARANTINED,
    ledger: Ledger = EMPTY_LEDGER,
) -> Written:
    """Write ``inbounds`` in order inside the connection's transaction; commits nothing.

    ``ledger`` prices the attempts that end and knows the low-balance thresholds."""
    written = Written()
    if not inbounds:  # an empty parameter list would INSERT one row of defaults
        return written
    ids = sorted({inbound.task_id for inbound in inbounds})
    tasks = {
        row["id"]: dict(row) for row in connection.execute(LOAD_TASKS, {"ids": ids}).mappings()
    }
    rows = Rows()
    fanout = Fanout(connection, now, ids)
    fitted = [storable(raw) for raw in inbounds]
    owners = _owners(connection, fitted, tasks)
    books = Books(connection, ledger, now)
    for inbound in fitted:
        task = tasks.get(inbound.task_id)
        result = _apply_one(inbound, task, now, unreadable, rows, fanout, written, owners, books)
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
    owners: Owners,
    books: Books,
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
    snapshot, conflict = _without_foreign_id(inbound.snapshot, task, owners)
    transition = apply(task_state(task), snapshot, provider=inbound.provider)
    if transition.outcome is Outcome.IGNORED:
        log.warning("task %s: %s", task["id"], transition.detail, extra=about)
    books.balance(inbound.provider, snapshot.remaining_credits, rows, fanout)
    if transition.outcome is Outcome.LATE:
        log.info("task %s: %s", task["id"], transition.detail, extra=about)
        books.late(task, inbound.provider, snapshot, rows)
        return IngestResult(Outcome.LATE, task["id"], None, transition.detail)
    if transition.outcome is Outcome.REROUTED:
        log.warning("task %s: %s", task["id"], transition.detail, extra=about)
        books.left(task, snapshot, rows)
    changes = dict(transition.changes)
    events = [transition.event] if transition.event is not None else []
    outcome, detail = transition.outcome, transition.detail
    if conflict is not None:
        log.warning("task %s: %s", task["id"], conflict, extra=about)
        applied = outcome is Outcome.APPLIED
        outcome, detail = Outcome.ANOMALY, conflict + ("; the rest was applied" if applied else "")
        anomalies = tuple(changes.get("anomalies", task["anomalies"]))
        if conflict not in anomalies:
            changes["anomalies"] = (*anomalies, conflict)
            events.append(EventType.ANOMALY)
    if changes:
        _change(task, changes, now)
        rows.changed[task["id"]] = task
        if transition.outcome is Outcome.REROUTED:
            # Waiting for its next target: the rerouter's, not the poller's.
            task["next_poll_at"] = task["lease_holder"] = task["lease_expires_at"] = None
            rows.rerouted = True
        else:
            books.current(task, rows)
        if "status" in changes:
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
    if task["provider_task_id"] is not None:
        owners[(task["provider"], task["provider_task_id"])] = task["id"]
    late_urls = "result_urls" in changes and EventType.COMPLETED not in events
    if late_urls and task["status"] == Status.COMPLETED.value:
        # URLs a completed task learned late (a duplicate filled them): mirror them too.
        rows.assets.extend(_asset_rows(task, now))
    event_ids = [fanout.event(task, event, rows) for event in events]
    return IngestResult(outcome, task["id"], event_ids[0] if event_ids else None, detail)


class Books:
    """The attempt rows (the cost ledger) a batch changes, and the low-balance alarm."""

    def __init__(self, connection: Connection, ledger: Ledger, now: datetime) -> None:
        self._connection = connection
        self._ledger = ledger
        self._now = now

    def current(self, task: Mapping[str, Any], rows: Rows) -> None:
        row = attempt_rows.current(task, self._ledger, self._now)
        rows.attempts[(task["id"], task["attempt"])] = row

    def left(self, task: Mapping[str, Any], snapshot: TaskSnapshot, rows: Rows) -> None:
        status = Status.EXPIRED if _is_expiry(snapshot) else Status.FAILED
        row = attempt_rows.left(task, snapshot, status, self._ledger, self._now)
        rows.attempts[(task["id"], task["attempt"])] = row

    def late(
        self, task: Mapping[str, Any], provider: str, snapshot: TaskSnapshot, rows: Rows
    ) -> None:
        status = normalize_state(snapshot.state)
        if status is None:
            return
        row = attempt_rows.late(
            task["id"], provider, task["attempt"], snapshot, status, self._ledger
        )
        if row is not None:
            rows.late_attempts.append(row)

    def balance(self, provider: str, remaining: float | None, rows: Rows, fanout: Fanout) -> None:
        """``provider.credits_low`` once, when a reported balance falls below the
        threshold: the balance last recorded was at or above it (or unknown)."""
        threshold = self._ledger.credits_low.get(provider)
        if remaining is None or threshold is None:
            return
        if provider in rows.balances:
            previous = rows.balances[provider]
        else:
            previous = self._connection.execute(LAST_BALANCE, {"provider": provider}).scalar()
        rows.balances[provider] = remaining
        if remaining < threshold and (previous is None or previous >= threshold):
            unit = self._ledger.prices_of(provider).unit
            data = {
                "provider": provider,
                "remaining_credits": remaining,
                "threshold": threshold,
                "unit": unit,
            }
            fanout.operational(
                EventType.CREDITS_LOW,
                lambda event_id: {
                    "id": event_id,
                    "type": EventType.CREDITS_LOW.value,
                    "timestamp": iso(self._now),
                    "data": data,
                },
                rows,
            )


def _is_expiry(snapshot: TaskSnapshot) -> bool:
    return normalize_state(snapshot.state) is Status.EXPIRED


def _without_foreign_id(
    snapshot: TaskSnapshot, task: Mapping[str, Any], owners: Owners
) -> tuple[TaskSnapshot, str | None]:
    """The snapshot minus a provider task id that another task holds, and why: a
    task's callback URL speaks only for that task."""
    wanted = snapshot.provider_task_id
    if wanted is None or task["provider_task_id"] is not None:
        return snapshot, None  # nothing to adopt (a different id is the lifecycle's anomaly)
    owner = owners.get((task["provider"], wanted))
    if owner is None or owner == task["id"]:
        return snapshot, None
    note = f"provider task id {wanted!r} belongs to task {owner}; not adopted"
    return replace(snapshot, provider_task_id=None), note


def _owners(
    connection: Connection, inbounds: Sequence[Inbound], tasks: Mapping[str, Mapping[str, Any]]
) -> Owners:
    """Who holds the provider task ids that snapshots would give to tasks without one.

    Usually nobody, and usually there is nothing to ask (tasks we submitted know
    their id): the query runs only for first callbacks of receiver-only tasks and
    creates still unconfirmed.
    """
    wanted: set[tuple[str, str]] = set()
    for inbound in inbounds:
        task = tasks.get(inbound.task_id)
        snapshot = inbound.snapshot
        if (
            task is not None
            and task["provider_task_id"] is None
            and snapshot is not None
            and snapshot.provider_task_id
        ):
            wanted.add((task["provider"], snapshot.provider_task_id))
    if not wanted:
        return {}
    by_provider: dict[str, list[str]] = {}
    for provider, provider_task_id in sorted(wanted):
        by_provider.setdefault(provider, []).append(provider_task_id)
    query = select(TASKS.c.id, TASKS.c.provider, TASKS.c.provider_task_id).where(
        or_(  # (provider, provider task id): the unique index's columns
            *(
                (TASKS.c.provider == provider) & TASKS.c.provider_task_id.in_(ids)
                for provider, ids in by_provider.items()
            )
        )
    )
    return {
        (row.provider, row.provider_task_id): row.id
        for row in connection.execute(query)
        if (row.provider, row.provider_task_id) in wanted
    }


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
        provider=task["provider"],
        attempt=task["attempt"],
        route_plan=tuple(task["route_plan"] or ()),
        reroute_at=task["reroute_at"],
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

    def operational(
        self,
        event_type: EventType,
        payload_of: Callable[[str], dict[str, Any]],
        rows: Rows,
    ) -> str:
        """An event about genhook itself (``subscriber.disabled``): no task, and only
        for the subscribers that list its type (no filter means task events only)."""
        event_id = new_event_id()
        rows.events.append(
            {
                "id": event_id,
                "task_id": None,
                "type": event_type.value,
                "created_at": self._now,
                "payload": payload_of(event_id),
            }
        )
        self._wanting(event_type.value, None)  # loads the subscribers
        assert self._subscribers is not None
        for subscriber_id, types in self._subscribers:
            if event_type.value in types:
                rows.deliveries.append(
                    {
                        "event_id": event_id,
                        "subscriber_id": subscriber_id,
                        "task_id": None,
                        "status": DeliveryStatus.PENDING.value,
                        "attempts": 0,
                        "next_attempt_at": self._now,
                        "created_at": self._now,
                    }
                )
        return event_id

    def _wanting(self, event_type: str, task_id: str | None) -> list[str]:
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
        scoped = self._task_webhooks.get(task_id, ()) if task_id is not None else ()
        candidates = [*self._subscribers, *scoped]
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
        "state": snapshot.state if snapshot else None,  # fitted by storable()
        "provider_task_id": snapshot.provider_task_id if snapshot else None,
        "body": inbound.body,
        "parse_errors": list(inbound.parse_errors),
        "detail": fitting.cut(result.detail, fitting.DETAIL_LENGTH) if result.detail else None,
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
    if rows.attempts:
        connection.execute(UPDATE_ATTEMPTS, [rows.attempts[key] for key in sorted(rows.attempts)])
    if rows.late_attempts:
        connection.execute(UPDATE_LATE_ATTEMPTS, rows.late_attempts)
    if rows.rerouted:
        topics.add(Topic.REROUTES.value)
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
    """``inbound`` fitted to its columns (:mod:`receiver.fitting`): the one place where
    what a provider sent is made storable. What had to be dropped or cut is added to
    the parse errors; the raw body (bytes) keeps everything as it came."""
    snapshot = inbound.snapshot
    problems: list[str] = []
    if snapshot is not None:
        snapshot, problems = fitting.fit_snapshot(snapshot)
    notes = fitting.fit_notes((*inbound.parse_errors, *problems))
    detail = fitting.cut(inbound.detail, fitting.DETAIL_LENGTH) if inbound.detail else None
    unchanged = snapshot is inbound.snapshot and detail == inbound.detail
    if unchanged and tuple(notes) == inbound.parse_errors:
        return inbound
    return replace(inbound, snapshot=snapshot, parse_errors=tuple(notes), detail=detail)
