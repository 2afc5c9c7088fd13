"""``GET /files/{task_id}/{index}.png``: the result images every gateway links to.

Like the gateways' CDNs these need no API key. An image exists only once its task has
completed and only for indexes below the task's image count; anything else is a plain
404, as a CDN would answer. Faults reach this route only through a ``/files`` path
prefix in ``fault_scope`` (an asset mirror's tests may want a flaky CDN).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from receiver import clock
from receiver.simulator.faults import FaultKind
from receiver.simulator.guard import apply_faults
from receiver.simulator.images import MEDIA_TYPE, task_image
from receiver.simulator.runtime import Simulator
from receiver.simulator.state import Phase

ENDPOINT = "files"


def routes(sim: Simulator) -> list[Route]:
    async def image(request: Request) -> Response:
        sim.stats.record_request(ENDPOINT)
        response = await _serve(request)
        sim.stats.record_status(ENDPOINT, response.status_code)
        return response

    async def _serve(request: Request) -> Response:
        plan = await apply_faults(sim, None, request)
        if plan.kind is FaultKind.RATE_LIMIT:
            headers = {"Retry-After": sim.config.retry_after_header()}
            return PlainTextResponse("Too Many Requests", 429, headers=headers)
        if plan.kind is FaultKind.SERVER_ERROR:
            return PlainTextResponse("Service Unavailable", 503)
        task = sim.tasks.find(request.path_params["task_id"])
        index: int = request.path_params["index"]
        if (
            task is None
            or task.phase_at(clock.utcnow()) is not Phase.COMPLETED
            or index >= task.image_count
        ):
            return PlainTextResponse("Not Found", 404)
        sim.stats.record_task(task.id, ENDPOINT)
        return Response(
            task_image(task.id, index, sim.config.image_size),
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "public, max-age=86400"},
        )

    return [Route("/files/{task_id}/{index:int}.png", image, methods=["GET"], name=ENDPOINT)]
