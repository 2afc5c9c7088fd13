"""Request counters, so tests can assert how genhook talked to the provider.

Two questions matter to genhook's tests: "did the poller use the batch endpoint?"
(per-endpoint counts) and "was any task polled twice?" (per-task counts). Endpoint
names are ``<gateway>.<action>``: ``apimodels.create``, ``apimodels.status``,
``apimall.create``, ``apimall.status``, ``apimart.create``, ``apimart.status``,
``apimart.batch``, plus ``files`` for result downloads.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

POLL_ACTIONS = (".status", ".batch")


class RequestStats:
    """Counts every request that reached an endpoint, its answer, and each task it named."""

    def __init__(self) -> None:
        self.endpoints: Counter[str] = Counter()
        self.statuses: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.tasks: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def record_request(self, endpoint: str) -> None:
        """Count a request as it arrives (before faults, auth and validation)."""
        self.endpoints[endpoint] += 1

    def record_status(self, endpoint: str, status: int) -> None:
        """Count the HTTP status the endpoint answered with."""
        self.statuses[endpoint][status] += 1

    def record_task(self, task_id: str, endpoint: str) -> None:
        """Count a successful answer about ``task_id`` (a batch counts each task once)."""
        self.tasks[task_id][endpoint] += 1

    def polls(self, task_id: str) -> int:
        """How many status answers (single or batch) were given about ``task_id``."""
        counts = self.tasks.get(task_id, Counter())
        return sum(n for name, n in counts.items() if name.endswith(POLL_ACTIONS))

    def reset(self) -> None:
        self.endpoints.clear()
        self.statuses.clear()
        self.tasks.clear()

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view for ``GET /_sim/stats``."""
        return {
            "endpoints": dict(self.endpoints),
            "statuses": {
                name: {str(code): n for code, n in counts.items()}
                for name, counts in self.statuses.items()
            },
            "tasks": {task_id: dict(counts) for task_id, counts in self.tasks.items()},
            "polls": {task_id: self.polls(task_id) for task_id in self.tasks},
        }
