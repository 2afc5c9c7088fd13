"""Task lifecycle: the one pure function every state change goes through.

Callbacks, polls and submissions all describe a task the same way, as a
:class:`TaskSnapshot`. :func:`apply` decides what such a snapshot does to the task we
hold (:class:`TaskState`) and returns a :class:`Transition`: the outcome, the fields to
change and the event to emit. No I/O happens here, so the rules can be tested
exhaustively (see ``tests/unit/test_lifecycle_properties.py``) and every path that
changes a task behaves identically.

Rules (ARCHITECTURE.md, "Domain"):

* statuses are ranked ``submitting < pending < processing < terminal``; a snapshot of
  lower or equal rank is a duplicate or stale and changes nothing, except that it may
  fill fields that are still empty;
* terminal statuses are absorbing; a *different* terminal report afterwards is kept as
  an anomaly (recorded on the task, one ``task.anomaly`` event), never applied;
* what the job asked for (``model``, ``request``) is only ever filled in, never
  replaced: a task genhook did not submit learns it from the provider's callback;
* provider vocabularies are mapped by :func:`normalize_state`; an unknown state
  changes nothing.

Routes (``receiver.routes``) add two rules, so that which result wins is decided here
and nowhere else:

* a routed task whose attempt fails for a reason another gateway can fix
  (:func:`receiver.routes.failover.can_fail_over`) and that has a target left is
  *rerouted*, not failed: it goes back to ``submitting`` at the next target (provider
  and model change, what the failed attempt reported is cleared from the task and
  kept on its attempt row), with a ``task.attempt_failed`` event; the next target's
  acceptance emits ``task.rerouted`` instead of a second ``task.submitted``;
* the attempt that is current decides the task. A report about an earlier attempt
  (its provider is not the task's any more) is *late*: recorded on that attempt,
  never applied to the task, never an event. So a task has exactly one terminal
  event, and its result is the current attempt's, even when an abandoned attempt
  finishes first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from receiver.routes.failover import can_fail_over


class Status(StrEnum):
    """Our own statuses. Declaration order is not rank: see :data:`RANK`."""

    SUBMITTING = "submitting"
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.FAILED, Status.EXPIRED})

RANK: Mapping[Status, int] = {
    Status.SUBMITTING: 0,
    Status.PENDING: 1,
    Status.PROCESSING: 2,
    Status.COMPLETED: 3,
    Status.FAILED: 3,
    Status.EXPIRED: 3,
}


class Source(StrEnum):
    """Where a snapshot came from; the only thing that tells a callback from a poll."""

    CALLBACK = "callback"
    POLL = "poll"
    SUBMIT = "submit"


class Outcome(StrEnum):
    """What a snapshot did to its task; stored on every inbox row."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    ANOMALY = "anomaly"
    IGNORED = "ignored"  # unknown provider state: logged, nothing changed
    REROUTED = "rerouted"  # the attempt failed; the route's next target takes over
    LATE = "late"  # about an attempt genhook has moved on from: kept on that attempt
    QUARANTINED = "quarantined"  # set by the receiver when a body cannot be read


class EventType(StrEnum):
    """Outbox event types, the public vocabulary downstream systems filter on."""

    SUBMITTED = "task.submitted"
    PROCESSING = "task.processing"
    COMPLETED = "task.completed"
    FAILED = "task.failed"
    EXPIRED = "task.expired"
    ANOMALY = "task.anomaly"
    ASSETS_READY = "task.assets_ready"
    ATTEMPT_FAILED = "task.attempt_failed"
    REROUTED = "task.rerouted"
    # Operational: about a subscriber, not a task; sent only to subscribers that list it.
    SUBSCRIBER_DISABLED = "subscriber.disabled"
    CREDITS_LOW = "provider.credits_low"

    @property
    def is_task_event(self) -> bool:
        return self.value.startswith("task.")


EVENT_FOR_STATUS: Mapping[Status, EventType] = {
    Status.PENDING: EventType.SUBMITTED,
    Status.PROCESSING: EventType.PROCESSING,
    Status.COMPLETED: EventType.COMPLETED,
    Status.FAILED: EventType.FAILED,
    Status.EXPIRED: EventType.EXPIRED,
}

# Provider vocabularies: apimodels.app and API Mall use the seed names, Kie-family
# gateways the second set, APIMart its own. "cancelled" is a failure with code
# "cancelled" (see apply).
_STATE_NAMES: Mapping[str, Status] = {
    "submitting": Status.SUBMITTING,
    "pending": Status.PENDING,
    "waiting": Status.PENDING,
    "queuing": Status.PENDING,
    "queued": Status.PENDING,
    "submitted": Status.PENDING,
    "processing": Status.PROCESSING,
    "generating": Status.PROCESSING,
    "running": Status.PROCESSING,
    "in_progress": Status.PROCESSING,
    "completed": Status.COMPLETED,
    "success": Status.COMPLETED,
    "succeeded": Status.COMPLETED,
    "failed": Status.FAILED,
    "fail": Status.FAILED,
    "error": Status.FAILED,
    "cancelled": Status.FAILED,
    "canceled": Status.FAILED,
    "expired": Status.EXPIRED,
}
_CANCELLED = frozenset({"cancelled", "canceled"})


def normalize_state(raw: str | None) -> Status | None:
    """Map a provider's state name onto ours; ``None`` when we do not know it."""
    if raw is None:
        return None
    return _STATE_NAMES.get(raw.strip().lower())


@dataclass(frozen=True, slots=True)
class TaskSnapshot:
    """What one provider message says about one task, already parsed.

    Every field but ``state`` and ``source`` is optional: providers omit what they do
    not know, and an absent field never erases what we already hold.
    """

    state: str
    source: Source
    provider_task_id: str | None = None
    result_urls: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    credits_used: float | None = None
    credits_refunded: float | None = None
    remaining_credits: float | None = None
    provider_created_at: datetime | None = None
    provider_completed_at: datetime | None = None
    provider_cost_ms: int | None = None
    result_expires_at: datetime | None = None
    observed_at: datetime | None = None
    # What the job asked for, as the provider echoes it (callbacks carry it): it
    # fills a task that lacks it (created elsewhere), never replaces what we sent.
    model: str | None = None
    request: Mapping[str, Any] | None = None
    # The reporter's own verdict on whether another gateway could do better, when it
    # had more than words to go on (a create refused with a typed error); None leaves
    # it to the error's code and message (receiver.routes.failover).
    retry_elsewhere: bool | None = None


@dataclass(frozen=True, slots=True)
class TaskState:
    """The part of a stored task that the lifecycle reads and writes."""

    status: Status
    provider_task_id: str | None = None
    result_urls: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    credits_used: float | None = None
    credits_refunded: float | None = None
    remaining_credits: float | None = None
    provider_created_at: datetime | None = None
    provider_completed_at: datetime | None = None
    provider_cost_ms: int | None = None
    result_expires_at: datetime | None = None
    terminal_at: datetime | None = None
    last_source: Source | None = None
    anomalies: tuple[str, ...] = ()
    model: str | None = None
    request: Mapping[str, Any] | None = None
    provider: str | None = None
    attempt: int = 1
    # A routed task's targets, in order (dicts with "provider" and "model"); attempt
    # N is targets[N - 1].
    route_plan: tuple[Mapping[str, Any], ...] = ()
    reroute_at: datetime | None = None  # since when it waits for its next target

    def evolve(self, changes: Mapping[str, Any]) -> TaskState:
        """A copy with ``changes`` applied (what the storage layer does to its row)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Transition:
    """The verdict of :func:`apply`: what happened and what to write."""

    outcome: Outcome
    changes: Mapping[str, Any] = field(default_factory=dict)
    event: EventType | None = None
    detail: str | None = None

    @property
    def changes_task(self) -> bool:
        return bool(self.changes)


# Fields a snapshot may fill when the task holds nothing for them yet, whatever the
# snapshot's rank: e.g. a duplicate callback carrying result URLs that an earlier,
# unreadable one lacked.
_FILLABLE = (
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
)
# Filled when empty, whatever the rank, and never overwritten even by an applied report.
_FILL_ONLY = ("model", "request")


# What a rerouted task forgets of the attempt it leaves (kept on that attempt's row):
# every reported field but the result and the error, which the reroute sets itself.
_PER_ATTEMPT = tuple(
    name for name in _FILLABLE if name not in ("result_urls", "error_code", "error_message")
)


def apply(task: TaskState, snapshot: TaskSnapshot, *, provider: str | None = None) -> Transition:
    """Decide what ``snapshot`` does to ``task``; ``provider`` names who reported it.

    Pure and total: every input gives a :class:`Transition`, nothing raises.
    """
    new_status = normalize_state(snapshot.state)
    if new_status is None:
        return Transition(Outcome.IGNORED, detail=f"unknown provider state {snapshot.state!r}")

    if provider is not None and task.provider is not None and provider != task.provider:
        return Transition(
            Outcome.LATE,
            detail=f"{new_status.value} reported by {provider}, an attempt the task has left",
        )
    if _reroutes(task, snapshot, new_status):
        return _reroute(task, snapshot, new_status)

    if (
        snapshot.provider_task_id is not None
        and task.provider_task_id is not None
        and snapshot.provider_task_id != task.provider_task_id
    ):
        return Transition(
            Outcome.ANOMALY,
            detail=(
                f"snapshot names provider task {snapshot.provider_task_id!r}, "
                f"task has {task.provider_task_id!r}"
            ),
        )

    reported = _reported_fields(snapshot, new_status)

    if task.status.is_terminal and new_status.is_terminal and new_status != task.status:
        anomaly = f"{new_status.value} reported after {task.status.value}"
        if anomaly in task.anomalies:
            return Transition(Outcome.DUPLICATE, detail=anomaly)
        return Transition(
            Outcome.ANOMALY,
            changes={"anomalies": (*task.anomalies, anomaly)},
            event=EventType.ANOMALY,
            detail=anomaly,
        )

    asked = _fill_empty(task, {name: getattr(snapshot, name) for name in _FILL_ONLY})
    if RANK[new_status] <= RANK[task.status]:
        outcome = Outcome.DUPLICATE if new_status == task.status else Outcome.STALE
        return Transition(outcome, changes={**_fill_empty(task, reported), **asked})

    changes: dict[str, Any] = {name: value for name, value in reported.items() if _has_value(value)}
    changes.update(asked)
    changes["status"] = new_status
    changes["last_source"] = snapshot.source
    if new_status.is_terminal:
        changes["terminal_at"] = snapshot.observed_at
    event = EVENT_FOR_STATUS[new_status]
    if task.status is Status.SUBMITTING and task.attempt > 1 and not new_status.is_terminal:
        event = EventType.REROUTED  # the next target took the job
        if not reported["error_code"]:  # the failed try's error stays on its attempt only
            changes["error_code"] = changes["error_message"] = None
    return Transition(Outcome.APPLIED, changes=changes, event=event)


def _reroutes(task: TaskState, snapshot: TaskSnapshot, new_status: Status) -> bool:
    if new_status not in (Status.FAILED, Status.EXPIRED) or task.status.is_terminal:
        return False
    if task.attempt >= len(task.route_plan):
        return False  # no target left: the failure is the task's
    return can_fail_over(
        expired=new_status is Status.EXPIRED,
        error_code=snapshot.error_code,
        error_message=snapshot.error_message,
        retry_elsewhere=snapshot.retry_elsewhere,
    )


def _reroute(task: TaskState, snapshot: TaskSnapshot, new_status: Status) -> Transition:
    following = task.route_plan[task.attempt]
    changes: dict[str, Any] = {name: None for name in _PER_ATTEMPT}
    changes.update(
        status=Status.SUBMITTING,
        provider=following["provider"],
        model=following["model"],
        attempt=task.attempt + 1,
        reroute_at=snapshot.observed_at,
        result_urls=(),
        error_code=snapshot.error_code or new_status.value,
        error_message=snapshot.error_message,
        last_source=snapshot.source,
    )
    detail = (
        f"attempt {task.attempt} at {task.provider} {new_status.value}"
        f" ({snapshot.error_code or 'no code'}); next: {following['provider']}"
    )
    return Transition(
        Outcome.REROUTED, changes=changes, event=EventType.ATTEMPT_FAILED, detail=detail
    )


def _reported_fields(snapshot: TaskSnapshot, status: Status) -> dict[str, Any]:
    reported = {name: getattr(snapshot, name) for name in _FILLABLE}
    if snapshot.state.strip().lower() in _CANCELLED and snapshot.error_code is None:
        reported["error_code"] = "cancelled"
    if status is not Status.COMPLETED:
        # A failed or in-flight report's URLs (e.g. previews) are not the result.
        reported["result_urls"] = ()
    return reported


def _fill_empty(task: TaskState, reported: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in reported.items()
        if _has_value(value) and not _has_value(getattr(task, name))
    }


def _has_value(value: Any) -> bool:
    return value is not None and value != () and value != {}
