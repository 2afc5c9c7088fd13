"""``genhook workers``: the live processes running background jobs, from a running
server (``GET /api/workers``, through the client like every command that reads).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from receiver import clock, resources
from receiver.cli.runner import print_json, talking


def workers(
    as_json: Annotated[bool, typer.Option("--json", help="print the server's JSON")] = False,
) -> None:
    """Live workers: their jobs, last heartbeat and the work they hold now."""
    with talking() as genhook:
        found = genhook.workers()
    if as_json:
        print_json(resources.WorkerList(workers=found))
        return
    Console().print(worker_table(found, clock.utcnow()))


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
