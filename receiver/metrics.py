"""Prometheus metrics: every metric genhook exposes, and how ``/metrics`` is rendered.

The metric objects live here, at module level, the way loggers do: an event is
counted with one line where it happens (``metrics.callback_received(...)``), and no
component grows a constructor argument for it. That is also how prometheus-client
works in multiprocess mode, which is chosen per process when the library is
imported (``PROMETHEUS_MULTIPROC_DIR`` set: every value lives in a per-process file
in that directory and :mod:`receiver.exposition` adds them all up), so an injected
registry would only pretend to be isolated. Tests read the change of a sample
around the event they cause.

Counts tied to a database write (a transition, a delivery outcome, a lost callback)
are staged on the session with :func:`on_commit` and counted only once the
transaction commits: a rolled-back or retried batch counts nothing twice.

Database-wide facts (tasks by status, pending deliveries, dead letters) are not
counted in any process: :mod:`receiver.exposition` reads them at scrape time.

Label values are bounded: providers and statuses are genhook's own vocabulary, an
unknown provider in a callback URL is ``unknown``, and task models (which adopted
tasks may name freely) fall back to ``other`` past :data:`MAX_MODELS`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

from receiver.lifecycle import Status

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from storage.models import Delivery, Task

log = logging.getLogger(__name__)

MAX_MODELS = 200
UNKNOWN = "unknown"
OTHER = "other"

CALLBACK_OUTCOMES = (
    "applied",
    "duplicate",
    "stale",
    "anomaly",
    "ignored",
    "quarantined",
    "refused",
    "unavailable",
)

CALLBACKS = Counter(
    "genhook_callbacks_received",
    "Provider callbacks received, by what became of them: applied, duplicate, stale, "
    "anomaly, ignored (unknown state), quarantined (unreadable body), refused (bad token, "
    "unknown provider, too large), unavailable (database down, answered 503).",
    ["provider", "outcome"],
)
TRANSITIONS = Counter(
    "genhook_task_transitions",
    "Task status changes, by provider, the new status and what reported it "
    "(callback, poll, submit).",
    ["provider", "status", "source"],
)
TASK_DURATION = Histogram(
    "genhook_task_duration_seconds",
    "From submission (or creation, for adopted and receiver-only tasks) to the terminal state.",
    ["provider", "model"],
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
CALLBACK_LOST = Counter(
    "genhook_callback_lost",
    "Tasks of a provider that sends callbacks whose terminal state was learned by "
    "polling: the callback never came (or came too late).",
    ["provider"],
)
PROVIDER_REQUESTS = Counter(
    "genhook_provider_requests",
    "HTTP requests to providers (every attempt), by endpoint (create, status, batch) "
    "and HTTP status, or 'timeout' / 'network' when no answer came.",
    ["provider", "endpoint", "status"],
)
PROVIDER_SECONDS = Histogram(
    "genhook_provider_request_seconds",
    "Time one provider request took, answered or not.",
    ["provider", "endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CIRCUIT_OPEN = Gauge(
    "genhook_provider_circuit_open",
    "1 while this provider's circuit breaker is open or probing (polls held back "
    "after repeated failures), 0 once it closed. Per process; the maximum over "
    "live processes in multiprocess mode.",
    ["provider"],
    multiprocess_mode="livemax",
)
DELIVERIES = Counter(
    "genhook_deliveries",
    "Webhook delivery attempts, by outcome: succeeded, retry (failed, tried again "
    "later), dead (failed for the last time), gone (410: subscriber disabled).",
    ["outcome"],
)
DELIVERY_LAG = Histogram(
    "genhook_delivery_lag_seconds",
    "From an event's commit to its subscriber's 2xx, retries included.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000, 86400),
)
INGEST_BATCH = Histogram(
    "genhook_ingest_batch_size",
    "Callbacks and submissions written together by one group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
INGEST_COMMIT = Histogram(
    "genhook_ingest_commit_seconds",
    "Time one group-commit transaction took, from BEGIN to durable COMMIT.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
SSE_STREAMS = Gauge(
    "genhook_sse_streams",
    "Open /api/events streams (summed over live processes).",
    multiprocess_mode="livesum",
)

_known_models: set[tuple[str, str]] = set()

# A child per label set, looked up once: ``labels()`` validates and locks on every
# call, which is most of what counting costs on the callback path. Label values are
# bounded (see the module docstring), so are these caches.
_child = functools.lru_cache(maxsize=4096)


@_child
def _callbacks(provider: str, outcome: str) -> Counter:
    return CALLBACKS.labels(provider, outcome)


@_child
def _transitions(provider: str, status: str, source: str) -> Counter:
    return TRANSITIONS.labels(provider, status, source)


@_child
def _durations(provider: str, model: str) -> Histogram:
    return TASK_DURATION.labels(provider, model)


@_child
def _requests(provider: str, endpoint: str, status: str) -> Counter:
    return PROVIDER_REQUESTS.labels(provider, endpoint, status)


@_child
def _request_seconds(provider: str, endpoint: str) -> Histogram:
    return PROVIDER_SECONDS.labels(provider, endpoint)


def callback_received(provider: str, outcome: str) -> None:
    _callbacks(provider, outcome).inc()


def provider_request(provider: str, endpoint: str, status: str, seconds: float) -> None:
    _requests(provider, endpoint, status).inc()
    _request_seconds(provider, endpoint).observe(seconds)


def circuit(provider: str, is_open: bool) -> None:
    CIRCUIT_OPEN.labels(provider).set(1 if is_open else 0)


def ingest_committed(batch_size: int, seconds: float) -> None:
    INGEST_BATCH.observe(batch_size)
    INGEST_COMMIT.observe(seconds)


@contextlib.contextmanager
def sse_stream() -> Iterator[None]:
    """Counts an open event stream for as long as the block runs."""
    SSE_STREAMS.inc()
    try:
        yield
    finally:
        SSE_STREAMS.dec()


# -- counted when the transaction commits ------------------------------------------

_STAGED = "genhook_metrics_on_commit"


def on_commit(session: AsyncSession | Session, count: Callable[[], None]) -> None:
    """Run ``count`` after ``session``'s transaction commits; forget it on rollback."""
    session.info.setdefault(_STAGED, []).append(count)


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for count in session.info.pop(_STAGED, ()):
        try:
            count()
        except Exception:  # a metric must never fail a commit that already happened
            log.exception("counting a committed change failed")


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_STAGED, None)


def task_transitioned(session: AsyncSession, task: Task, source: str) -> None:
    """``task`` (already changed) moved to its current status; counted on commit."""
    on_commit(
        session,
        transition_count(
            task.provider,
            task.status,
            source,
            model=task.model,
            started_at=task.submitted_at or task.created_at,
            terminal_at=task.terminal_at,
        ),
    )


def transition_count(
    provider: str,
    status: str,
    source: str,
    *,
    model: str | None,
    started_at: datetime,
    terminal_at: datetime | None,
) -> Callable[[], None]:
    """What to count, once committed, for a task that moved to ``status``: the
    transition and, for a terminal one, how long the task took."""
    transitions = _transitions(provider, status, source)
    if not (Status(status).is_terminal and terminal_at is not None):
        return transitions.inc
    seconds = max((terminal_at - started_at).total_seconds(), 0.0)
    durations = _durations(provider, _model_label(provider, model))

    def count() -> None:
        transitions.inc()
        durations.observe(seconds)

    return count


def callback_lost(session: AsyncSession, provider: str, tasks: int = 1) -> None:
    """``tasks`` of a callback provider were finished by a poll; counted on commit."""
    if tasks:
        counter = CALLBACK_LOST.labels(provider)
        on_commit(session, lambda: counter.inc(tasks))


def delivery_recorded(
    session: AsyncSession, outcome: str, delivery: Delivery, now: datetime
) -> None:
    """One delivery attempt's outcome; a success also observes the lag."""
    lag = (now - delivery.created_at).total_seconds() if outcome == "succeeded" else None

    def count() -> None:
        DELIVERIES.labels(outcome).inc()
        if lag is not None:
            DELIVERY_LAG.observe(max(lag, 0.0))

    on_commit(session, count)


def _model_label(provider: str, model: str | None) -> str:
    if not model:
        return UNKNOWN
    key = (provider, model)
    if key in _known_models:
        return model
    if len(_known_models) >= MAX_MODELS:
        return OTHER
    _known_models.add(key)
    return model


ALL = (
    CALLBACKS,
    TRANSITIONS,
    TASK_DURATION,
    CALLBACK_LOST,
    PROVIDER_REQUESTS,
    PROVIDER_SECONDS,
    CIRCUIT_OPEN,
    DELIVERIES,
    DELIVERY_LAG,
    INGEST_BATCH,
    INGEST_COMMIT,
    SSE_STREAMS,
)
