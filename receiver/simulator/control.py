"""``/_sim/``: look inside a running simulator and steer it, over HTTP.

For tests in another process, demos and benchmarks. No auth: the simulator is a local
development tool (bind it to loopback). Everything here is also reachable in-process
through ``app.state.simulator``.

=====================  ==============================================================
``GET /_sim``          index: endpoints served, task count, live config
``GET /_sim/config``   the live :class:`SimulatorConfig` (``api_key`` masked)
``PATCH /_sim/config`` change any fields at runtime (JSON object; 400 if invalid)
``GET /_sim/stats``    request counts per endpoint, per status, per task; polls per task
``GET /_sim/callbacks`` callback attempts with outcomes, plus pending / in-flight counts
``GET /_sim/tasks``    every task with its current state (``/_sim/tasks/{id}`` for one)
``POST /_sim/reset``   zero counters and the callback log (``{"tasks": true}``: all state)
=====================  ==============================================================
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import clock
from receiver.simulator.runtime import Simulator
from receiver.simulator.wire import json_response

PREFIX = "/_sim"


def config_view(sim: Simulator) -> dict[str, Any]:
    data = sim.config.model_dump(mode="json")
    if data.get("api_key") is not None:
        data["api_key"] = "***"
    return data


def routes(sim: Simulator, endpoints: list[str]) -> list[Route]:
    async def index(request: Request) -> Response:
        summary = {"simulator": "genhook", "endpoints": endpoints, "tasks": len(sim.tasks)}
        return json_response({**summary, "config": config_view(sim)})

    async def get_config(request: Request) -> Response:
        return json_response(config_view(sim))

    async def patch_config(request: Request) -> Response:
        try:
            changes = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return json_response({"error": "body must be a JSON object"}, 400)
        if not isinstance(changes, dict):
            return json_response({"error": "body must be a JSON object"}, 400)
        try:
            sim.configure(changes)
        except ValidationError as exc:
            errors = [
                {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
            ]
            return json_response({"error": "invalid config", "details": errors}, 400)
        return json_response(config_view(sim))

    async def stats(request: Request) -> Response:
        return json_response(sim.stats.snapshot())

    async def callbacks(request: Request) -> Response:
        sender = sim.callbacks
        return json_response(
            {
                "pending": sender.pending,
                "in_flight": sender.in_flight,
                "attempts": [a.as_dict() for a in sender.attempts],
            }
        )

    async def tasks(request: Request) -> Response:
        now = clock.utcnow()
        return json_response({"tasks": [t.summary(now) for t in sim.tasks]})

    async def one_task(request: Request) -> Response:
        task = sim.tasks.find(request.path_params["task_id"])
        if task is None:
            return json_response({"error": "no such task"}, 404)
        return json_response(task.summary(clock.utcnow()))

    async def reset(request: Request) -> Response:
        body = await request.body()
        try:
            options = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            return json_response({"error": "body must be empty or a JSON object"}, 400)
        everything = isinstance(options, dict) and options.get("tasks") is True
        sim.reset(tasks=everything)
        return json_response({"reset": True, "tasks": everything})

    return [
        Route(PREFIX, index, methods=["GET"]),
        Route(f"{PREFIX}/config", get_config, methods=["GET"]),
        Route(f"{PREFIX}/config", patch_config, methods=["PATCH", "POST"]),
        Route(f"{PREFIX}/stats", stats, methods=["GET"]),
        Route(f"{PREFIX}/callbacks", callbacks, methods=["GET"]),
        Route(f"{PREFIX}/tasks", tasks, methods=["GET"]),
        Route(f"{PREFIX}/tasks/{{task_id}}", one_task, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
    ]
