"""APIMart: create, single and batch status, with per-model request limits.

Contract: ``provider-docs/apimart-gemini-2.5-flash-image.txt`` and ``apimart-gpt-image-2.txt``.

* ``POST /v1/images/generations`` → ``{"code":200,"data":[{"status":"submitted",
  "task_id":"task_..."}]}``.
* ``GET /v1/tasks/{task_id}`` → ``{"code":200,"data":{id, status, progress, created,
  estimated_time, ...}}``; ``completed``, ``actual_time`` and ``result.images[].url[]``
  with ``expires_at`` (= completed + 24 h) only when completed, ``error.message`` only
  when failed. Times are epoch seconds. One ``images`` entry per image.
* ``POST /v1/tasks/batch`` with ``{"task_ids": [...]}`` → ``{"code":200,"data":[...]}``,
  the same objects as the single query, in request order; ids that are unknown (or
  expired) are left out. At most ``apimart_batch_limit`` ids per call.
* Errors: ``{"code": <status>, "error": {"message", "type"}}``; 404 says "task does not
  exist or has expired" as the docs quote.

Limits, as documented: gemini-2.5-flash-image-preview(-official) — prompt ≤ 1000
characters, ``n`` 1-4, ``size`` one of 11 ratios, ``resolution`` 1K, ≤ 14
``image_urls``, ``mask_url`` a single image and only with ``image_urls``,
``official_fallback`` not with the ``-official`` model. gpt-image-2 — ``n`` = 1,
``size`` one of 13 ratios (a pixel size is "build_request_failed: invalid size").
A blocked prompt (``[sim:blocked]``) is refused at submission with a 400, unbilled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    epoch_s,
    json_response,
    optional_bool,
    optional_choice,
    optional_int,
    optional_str,
    optional_str_list,
    read_json_object,
    required_str,
    ulid_id,
)

NAME = "apimart"
URL_LIFETIME_SECONDS = 24 * 3600
NOT_FOUND = "task does not exist or has expired"

GEMINI_RATIOS = ("auto", "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
GPT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "2:1", "1:2",
              "21:9", "9:21")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ModelRules:
    """What one model accepts."""

    max_images: int
    ratios: tuple[str, ...]
    max_prompt: int | None = None
    max_image_urls: int | None = None
    gemini: bool = False
    official: bool = False


MODELS: dict[str, ModelRules] = {
    "gemini-2.5-flash-image-preview": ModelRules(4, GEMINI_RATIOS, 1000, 14, gemini=True),
    "gemini-2.5-flash-image-preview-official": ModelRules(
        4, GEMINI_RATIOS, 1000, 14, gemini=True, official=True
    ),
    "gpt-image-2": ModelRules(1, GPT_RATIOS),
}


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"code": status, "error": {"message": message, "type": code}}


GATEWAY = Gateway(NAME, error_body, (500, "server_error", "Internal server error"))


def validate(body: dict[str, Any]) -> tuple[str, str, int]:
    """Check a create body against the model's documented limits."""
    model = required_str(body, "model")
    rules = MODELS.get(model)
    if rules is None:
        raise bad_request(f"model must be one of: {', '.join(MODELS)}", "invalid_model")
    prompt = required_str(body, "prompt")
    if rules.max_prompt is not None and len(prompt) > rules.max_prompt:
        raise bad_request(f"prompt must be at most {rules.max_prompt} characters")
    count = optional_int(body, "n", 1, rules.max_images) or 1
    size = optional_str(body, "size")
    if size is not None and size not in rules.ratios:
        if not rules.gemini:
            raise bad_request("build_request_failed: invalid size", "build_request_failed")
        raise bad_request(f"size must be one of: {', '.join(rules.ratios)}")
    image_urls = optional_str_list(body, "image_urls", rules.max_image_urls)
    if rules.gemini:
        optional_choice(body, "resolution", ("1K",))
        if optional_bool(body, "official_fallback") and rules.official:
            raise bad_request("official_fallback cannot be used with the official model")
        mask = body.get("mask_url")
        if mask is not None:
            if not isinstance(mask, str) or not mask:
                raise bad_request("mask_url must be a single image URL")
            if not image_urls:
                raise bad_request("mask_url must be used together with image_urls")
    return model, prompt, count


async def create(request: Request, sim: Simulator) -> Response:
    body = await read_json_object(request)
    model, prompt, count = validate(body)
    directives = parse_directives(prompt)
    if directives.blocked:
        raise bad_request("prompt rejected by content moderation", "content_policy_violation")
    task = sim.create_task(
        task_id=ulid_id("task_"),
        gateway=NAME,
        model=model,
        params=body,
        directives=directives,
        image_count=count,
        base_url=base_url(request),
    )
    sim.stats.record_task(task.id, f"{NAME}.create")
    return json_response({"code": 200, "data": [{"status": "submitted", "task_id": task.id}]})


def task_view(task: SimTask, base: str) -> dict[str, Any]:
    """The ``data`` object of a task query."""
    now = clock.utcnow()
    phase = task.phase_at(now)
    view: dict[str, Any] = {
        "id": task.id,
        "status": phase.value,
        "progress": task.progress_at(now),
        "created": epoch_s(task.created_at),
        "estimated_time": max(1, round(task.plan.duration)),
    }
    finished = task.finished_at(now)
    if phase is Phase.COMPLETED and finished is not None:
        done = epoch_s(finished)
        view["completed"] = done
        view["actual_time"] = done - view["created"]
        view["result"] = {
            "images": [
                {"url": [url], "expires_at": done + URL_LIFETIME_SECONDS}
                for url in task.result_urls(base)
            ]
        }
    elif phase is Phase.FAILED:
        view["error"] = {"message": task.plan.fail_message, "type": "generation_failed"}
    return task.directives.finished_answer(view) if phase.terminal else view


async def status(request: Request, sim: Simulator) -> Response:
    task = sim.tasks.get(request.path_params["task_id"], NAME)
    if task is None:
        raise ApiError(404, "task_not_found", NOT_FOUND)
    sim.stats.record_task(task.id, f"{NAME}.status")
    return json_response({"code": 200, "data": task_view(task, base_url(request))})


async def batch(request: Request, sim: Simulator) -> Response:
    body = await read_json_object(request)
    ids = body.get("task_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad_request("task_ids must be a non-empty array of task ids")
    limit = sim.config.apimart_batch_limit
    if len(ids) > limit:
        raise bad_request(f"task_ids accepts at most {limit} ids")
    base = base_url(request)
    views = []
    for task_id in dict.fromkeys(ids):  # a repeated id is answered once
        task = sim.tasks.get(task_id, NAME)
        if task is not None:
            sim.stats.record_task(task.id, f"{NAME}.batch")
            views.append(task_view(task, base))
    return json_response({"code": 200, "data": views})


def routes(sim: Simulator) -> list[Route]:
    return [
        provider_route(sim, GATEWAY, "create", "/v1/images/generations", create, ["POST"]),
        provider_route(sim, GATEWAY, "batch", "/v1/tasks/batch", batch, ["POST"]),
        provider_route(sim, GATEWAY, "status", "/v1/tasks/{task_id}", status, ["GET"]),
    ]
