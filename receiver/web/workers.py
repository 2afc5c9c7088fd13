"""``GET /api/workers``: the live processes running background jobs, and what each
holds (what ``genhook workers`` prints)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import resources
from receiver.heartbeat import list_live
from receiver.web.http import respond, services
from receiver.web.operation import operation


@operation(
    "Live workers: their jobs, last heartbeat and the leases they hold",
    "service",
    ok={200: resources.WorkerList},
)
async def get_workers(request: Request) -> Response:
    runtime = services(request)
    found = await list_live(runtime.sessions, runtime.settings.health)
    return respond(resources.WorkerList(workers=found))


routes = [Route("/api/workers", get_workers, methods=["GET"])]
