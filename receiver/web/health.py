"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work)."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import resources
from receiver.web.http import error, respond, services
from receiver.web.operation import operation


@operation("Liveness", "service", ok={200: resources.Health}, public=True)
async def healthz(request: Request) -> Response:
    return respond(resources.Health(status="ok"))


@operation(
    "Readiness: the database answers",
    "service",
    ok={200: resources.Health},
    errors={503: "the database does not answer"},
    public=True,
)
async def readyz(request: Request) -> Response:
    try:
        async with services(request).engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; say which
        return error(503, "database_unavailable", f"{type(exc).__name__}: {exc}")
    return respond(resources.Health(status="ready"))


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
