"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work).

Ready means: the database answers ``SELECT 1`` within
``GENHOOK_HEALTH_DATABASE_TIMEOUT_SECONDS``, and, where this process runs background
jobs, none of them is late (:func:`receiver.heartbeat.late_jobs`). A process that is
not ready says which check failed, so the answer is worth reading, not only its
status.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import resources
from receiver.web.http import error, respond, services
from receiver.web.operation import operation
from storage.engine import READ_ONLY


@operation("Liveness", "service", ok={200: resources.Health}, public=True)
async def healthz(request: Request) -> Response:
    return respond(resources.Health(status="ok"))


@operation(
    "Readiness: the database answers and no background job of this process is late",
    "service",
    ok={200: resources.Health},
    errors={503: "the database does not answer in time, or a background job is late"},
    public=True,
)
async def readyz(request: Request) -> Response:
    runtime = services(request)
    health = runtime.settings.health
    # The probe runs as its own task and is not waited for past the limit: cancelling
    # a connect or a statement to a host that stopped answering can itself take
    # seconds, and the answer must not.
    probe = asyncio.create_task(_select_1(runtime.engine), name="genhook-readyz")
    done, _ = await asyncio.wait({probe}, timeout=health.database_timeout_seconds)
    if not done:
        probe.cancel()
        probe.add_done_callback(_forget)
        return error(
            503,
            "database_unavailable",
            f"the database did not answer within {health.database_timeout_seconds:g} s",
        )
    if (exc := probe.exception()) is not None:  # any failure means "not ready"; say which
        return error(503, "database_unavailable", f"{type(exc).__name__}: {exc}")
    late = runtime.jobs.late(health.job_grace_seconds)
    if late:
        described = "; ".join(
            f"{job.name} has not succeeded for {job.age_seconds:.0f} s "
            f"(allowed {job.limit_seconds:.0f} s)"
            for job in late
        )
        return error(503, "jobs_late", f"background jobs are late: {described}")
    return respond(resources.Health(status="ready"))


async def _select_1(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        # read-only: on SQLite a plain BEGIN would queue for the write lock
        await connection.execution_options(**READ_ONLY)
        await connection.execute(text("SELECT 1"))


def _forget(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
