"""apimodels.app: create, poll, and the callback body it POSTs on a terminal state.

Contract: ``provider-docs/apimodels-images-and-callbacks.txt``.

* ``POST /api/v1/images/generations`` → ``{"code":200,"msg":"success","data":{"taskId",
  "state":"pending"}}``; accepts ``callback_url``.
* ``GET /api/v1/images/generations?task_id=`` → ``data`` with ``taskId`` and ``state``
  (pending / processing / completed / failed); ``resultUrls`` and ``completeTime`` once
  completed, ``failMsg`` once failed; ``createTime`` always (ms epoch).
* Errors: the documented HTTP status (400, 401, 402, 404, 500; plus 429 when injected)
  with ``{"code": <status>, "msg": <reason>, "data": null}``.
* Callback: ``{"code":200,"msg":"success","data":{taskId, model, state, param,
  resultJson, failCode, failMsg, costTime, completeTime, createTime}}`` where ``param``
  and ``resultJson`` are JSON *strings*; ``resultJson`` is null on failure.

The docs give no parameter limits beyond "400 invalid or missing parameters", so only
``model``/``prompt`` are required and the optional fields are type-checked; ``n``
(multi-image models) is accepted from 1 to 10. ``[sim:blocked]`` makes the task fail
with the docs' sample message "Content policy violation".
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import clock
from receiver.simulator.directives import parse_directives
from receiver.simulator.errors import ApiError, bad_request
from receiver.simulator.guard import Gateway, provider_route
from receiver.simulator.runtime import Simulator
from receiver.simulator.state import Phase, SimTask
from receiver.simulator.wire import (
    base_url,
    cuid_id,
    epoch_ms,
    json_response,
    optional_int,
    optional_str,
    optional_str_list,
    read_json_object,
    required_str,
)

NAME = "apimodels"
PATH = "/api/v1/images/generations"
BLOCKED_MESSAGE = "Content policy violation"
FAIL_CODE = "GENERATION_FAILED"
MAX_IMAGES = 10

# The part before the slash of the callback's "<provider>/<model_name>".
_MODEL_VENDORS = (("gemini", "google"), ("nanobanana", "google"), ("gpt", "openai"))


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    del code  # apimodels' envelope has no machine code besides the status
    return {"code": status, "msg": message, "data": None}


GATEWAY = Gateway(NAME, error_body, (500, "internal_error", "Internal Server Error"))


def _ok(data: dict[str, Any]) -> Response:
    return json_response({"code": 200, "msg": "success", "data": data})


async def create(request: Request, sim: Simulator) -> Response:
    body = await read_json_object(request)
    model = required_str(body, "model")
    prompt = required_str(body, "prompt")
    callback_url = optional_str(body, "callback_url")
    if callback_url is not None:
        _check_callback_url(callback_url)
    for name in ("image_url", "mask_url", "aspect_ratio", "resolution", "size"):
        optional_str(body, name)
    optional_str_list(body, "image_urls")
    count = optional_int(body, "n", 1, MAX_IMAGES) or 1

    directives = parse_directives(prompt)
    if directives.blocked:
        directives = replace(directives, fail=True, fail_message=BLOCKED_MESSAGE)
    task = sim.create_task(
        task_id=cuid_id(),
        gateway=NAME,
        model=model,
        params=body,
        directives=directives,
        image_count=count,
        base_url=base_url(request),
        callback_url=callback_url,
    )
    if callback_url is not None and task.plan.finishes_at is not None:
        sim.callbacks.schedule(
            task.id,
            callback_url,
            callback_body(task),
            task.plan.finishes_at,
            drop=directives.drop,
        )
    sim.stats.record_task(task.id, f"{NAME}.create")
    return _ok({"taskId": task.id, "state": Phase.PENDING.value})


async def status(request: Request, sim: Simulator) -> Response:
    task_id = request.query_params.get("task_id", "").strip()
    if not task_id:
        raise bad_request("task_id is required")
    task = sim.tasks.get(task_id, NAME)
    if task is None:
        raise ApiError(404, "not_found", "Task not found")
    sim.stats.record_task(task.id, f"{NAME}.status")
    now = clock.utcnow()
    phase = task.phase_at(now)
    data: dict[str, Any] = {"taskId": task.id, "state": phase.value}
    if phase is Phase.COMPLETED:
        data["resultUrls"] = task.result_urls(base_url(request))
    elif phase is Phase.FAILED:
        data["failMsg"] = task.plan.fail_message
    data["createTime"] = epoch_ms(task.created_at)
    finished = task.finished_at(now)
    if finished is not None:
        data["completeTime"] = epoch_ms(finished)
        data = task.directives.finished_answer(data)
    return _ok(data)


def _check_callback_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise bad_request("callback_url is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise bad_request("callback_url must be an absolute http(s) URL")


def callback_model(model: str) -> str:
    """The callback's ``"<provider>/<model_name>"``; ids that already have a provider
    part (``nanobanana2/gemini-3.1-...``) are kept as they are."""
    if "/" in model:
        return model
    vendor = next((v for prefix, v in _MODEL_VENDORS if model.startswith(prefix)), NAME)
    return f"{vendor}/{model}"


def callback_body(task: SimTask) -> bytes:
    """The exact bytes POSTed to ``callback_url`` when the task ends."""
    finished = task.plan.finishes_at
    if finished is None:
        raise ValueError("a task that never finishes has no callback")
    completed = task.plan.outcome is Phase.COMPLETED
    result = orjson.dumps({"resultUrls": task.result_urls()}).decode() if completed else None
    data = {
        "taskId": task.id,
        "model": callback_model(task.model),
        "state": task.plan.outcome.value,
        "param": orjson.dumps(task.params).decode(),
        "resultJson": result,
        "failCode": None if completed else FAIL_CODE,
        "failMsg": None if completed else task.plan.fail_message,
        "costTime": epoch_ms(finished) - epoch_ms(task.created_at),
        "completeTime": epoch_ms(finished),
        "createTime": epoch_ms(task.created_at),
    }
    data = task.directives.finished_answer(data)
    return orjson.dumps({"code": 200, "msg": "success", "data": data})


def routes(sim: Simulator) -> list[Route]:
    return [
        provider_route(sim, GATEWAY, "create", PATH, create, ["POST"]),
        provider_route(sim, GATEWAY, "status", PATH, status, ["GET"]),
    ]
