"""``/metrics``: prometheus-client's exposition, across processes, with the gauges
that are read from the database.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set in the environment before
any genhook module is imported, as ``serve --workers N`` does for its children)
every process writes its values to files in that directory and whichever process
is scraped adds them all up; otherwise the process's own registry is served, with
prometheus-client's process and Python collectors.

Database-wide facts (tasks by status, pending deliveries, dead letters) are not
counted by any process: :class:`DatabaseGauges` reads them at scrape time, at most
once every ``GENHOOK_METRICS_CACHE_SECONDS``. Every scraped process reports the same
values for them; aggregate them with ``max``, never ``sum``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder
from prometheus_client.registry import Collector

from receiver import metrics
from receiver.lifecycle import Status
from storage.engine import READ_ONLY, SessionFactory
from storage.stats import count_deliveries_by_status, count_tasks_by_status

__all__ = ["CONTENT_TYPE", "MULTIPROC_ENV", "DatabaseGauges", "Exposition", "metric_names"]

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The shared directory when this process runs in multiprocess mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def process_exited(pid: int, directory: str | None = None) -> None:
    """Drop a dead process's live gauges (its counters stay: they are history).

    For a supervisor of several worker processes (``serve --workers N``) to call
    when a child exits, as gunicorn's ``child_exit`` hook does."""
    directory = directory or multiprocess_dir()
    if directory:
        _multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


class DatabaseGauges:
    """Gauges read from the database at scrape time and reused for ``cache_seconds``.

    :meth:`refresh` (async) reads; :meth:`collect` (what prometheus-client calls,
    synchronously) only reports what was read. A failed read drops the gauges from
    the answer rather than repeat stale numbers as if they were current.
    """

    def __init__(self, sessions: SessionFactory, cache_seconds: float) -> None:
        self._sessions = sessions
        self._cache_seconds = cache_seconds
        self._read_at: float | None = None
        self._tasks: dict[str, int] = {}
        self._deliveries: dict[str, int] = {}
        self._ok = False
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < self._cache_seconds:
                return
            try:
                async with self._sessions() as session:
                    await session.connection(execution_options=READ_ONLY)
                    self._tasks = await count_tasks_by_status(session)
                    self._deliveries = await count_deliveries_by_status(session)
                self._ok = True
            except Exception as exc:
                log.warning("metrics: could not read the database gauges: %s", exc)
                self._ok = False
            self._read_at = now

    def collect(self) -> Iterable[Metric]:
        if not self._ok:
            return
        tasks = GaugeMetricFamily(
            "genhook_tasks", "Tasks in the database, by status.", labels=["status"]
        )
        for status in Status:
            tasks.add_metric([status.value], self._tasks.get(status.value, 0))
        yield tasks
        yield GaugeMetricFamily(
            "genhook_deliveries_pending",
            "Webhook deliveries waiting to be sent or retried.",
            value=self._deliveries.get("pending", 0),
        )
        yield GaugeMetricFamily(
            "genhook_dead_letters",
            "Webhook deliveries that failed for good (replay them with "
            "`genhook deliveries replay --dead`).",
            value=self._deliveries.get("dead", 0),
        )


class _Forward(Collector):
    """Another registry's metrics, as one collector of ours."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


class Exposition:
    """What ``/metrics`` answers: this process's metrics, or every process's in
    multiprocess mode, and the database gauges."""

    def __init__(self, sessions: SessionFactory, *, cache_seconds: float) -> None:
        self.gauges = DatabaseGauges(sessions, cache_seconds)
        self._registry = CollectorRegistry(auto_describe=False)
        directory = multiprocess_dir()
        if directory:
            _multiprocess.MultiProcessCollector(self._registry, path=directory)  # type: ignore[no-untyped-call]
        else:
            self._registry.register(_Forward(REGISTRY))
        self._registry.register(self.gauges)

    async def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition and its content type: OpenMetrics when the scraper's
        ``Accept`` asks for it (Prometheus does), else the classic text format."""
        await self.gauges.refresh()
        encode, content_type = choose_encoder(accept or "")
        return encode(self._registry), content_type


DATABASE_GAUGES = ("genhook_tasks", "genhook_deliveries_pending", "genhook_dead_letters")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def metric_names() -> set[str]:
    """Every series name genhook's own metrics can produce (what a query may name)."""
    names = set(DATABASE_GAUGES)
    for metric in metrics.ALL:
        for family in metric.describe():
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names
