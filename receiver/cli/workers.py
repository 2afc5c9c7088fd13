"""``genhook workers``: the live processes running background jobs, from a running
server's ``GET /api/workers`` (``GENHOOK_URL``, with ``GENHOOK_API_TOKEN`` when set).

It asks the server rather than the database so that it shows what the server
shows, wherever it runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from receiver import clock, resources
from receiver.cli.runner import fail, load_settings, print_json

TIMEOUT_SECONDS = 10


def workers(
    as_json: Annotated[bool, typer.Option("--json", help="print the server's JSON")] = False,
) -> None:
    """Live workers: their jobs, last heartbeat and the work they hold now."""
    settings = load_settings()
    headers = {"Accept": "application/json"}
    if settings.api_token is not None:
        headers["Authorization"] = f"Bearer {settings.api_token.get_secret_value()}"
    url = f"{settings.url.rstrip('/')}/api/workers"
    try:
        response = httpx.get(url, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach genhook at {settings.url} (GENHOOK_URL): {exc}") from None
    if response.status_code != 200:
        raise fail(f"GET {url}: HTTP {response.status_code}: {response.text[:300]}")
    found = resources.WorkerList.model_validate_json(response.content)
    if as_json:
        print_json(found)
        return
    Console().print(worker_table(found.workers, clock.utcnow()))


def worker_table(found: list[resources.Worker], now: datetime) -> Table | str:
    if not found:
        return "no live workers (none has sent a heartbeat lately)"
    table = Table("worker", "kind", "started", "heartbeat", "jobs (last success)", "holds")
    for worker in found:
        jobs = ", ".join(
            f"{job.name} {_ago(job.last_ok_at, now)}" + (" (failing)" if _failing(job) else "")
            for job in worker.jobs
        )
        held = worker.holds
        table.add_row(
            worker.id,
            worker.kind,
            _ago(worker.started_at, now),
            _ago(worker.heartbeat_at, now),
            jobs,
            f"{held.tasks} tasks, {held.deliveries} deliveries, {held.assets} assets",
        )
    return table


def _failing(job: resources.JobStatus) -> bool:
    if job.last_error_at is None:
        return False
    return job.last_ok_at is None or job.last_error_at > job.last_ok_at


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = max((now - when).total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.0f}h ago"
