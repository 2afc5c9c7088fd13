"""API Mall: create with ``Idempotency-Key``, poll, credits charged and refunded.

Contract: ``provider-docs/apimall-generate-images.txt`` and ``apimall-nano-banana-pro.txt``.

* ``POST /api/v1/images/generate`` → ``{"success":true,"data":{task_id, request_id,
  credits_used, remaining_credits, model},"request_id"}``. Credits are
  ``apimall_credits_per_image x num_images`` (the docs' sample: 8 for one image).
* ``GET /api/v1/images/{task_id}`` → ``data`` with ``status`` (pending / processing /
  completed / failed), ``output.resultUrls``, ``primary_url``, ``image_url``,
  ``error_message``, ``credits_used``, ``credits_refunded`` and ISO-8601 times.
  A failed task refunds everything it was charged, visible in ``credits_refunded``
  and in the next ``remaining_credits``.
* Errors: ``{"success":false,"error":{"code","message"},"request_id"}`` with the
  documented statuses: 400 invalid parameters, 401 missing/invalid key, 402
  ``insufficient_credits``, 404 unknown task, 409 ``Idempotency-Key`` reused with a
  different request, 429 rate limit, 451 prompt blocked (``[sim:blocked]``), 503 busy.
* Same ``Idempotency-Key`` (per API key) and same body → the first answer again, same
  task, no second charge, with ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import clock
from receiver.simulator.billing import IdempotentAnswer
from receiver.simulator.directives import parse_directives
from receiver.simulator.errors import ApiError, bad_request
from receiver.simulator.guard import Gateway, provider_route
from receiver.simulator.runtime import Simulator
from receiver.simulator.state import Phase
from receiver.simulator.wire import (
    base_url,
    bearer_token,
    iso_ms,
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

NAME = "apimall"
DEFAULT_MODEL = "nano-banana"
ALL_TYPES = ("text-to-image", "image-to-image", "upscale")
# Models the two pages document, with the task types each one lists.
MODEL_TYPES: dict[str, tuple[str, ...]] = {
    "z-image": ALL_TYPES,
    "zimage": ALL_TYPES,
    "nano-banana": ALL_TYPES,
    "nano-banana-pro": ("text-to-image", "image-to-image"),
}
ENUMS: dict[str, tuple[str, ...]] = {
    "resolution": ("1K", "2K", "4K"),
    "quality": ("low", "medium", "high"),
    "background": ("auto", "transparent", "opaque"),
    "output_format": ("jpeg", "jpg", "png"),
}
STRINGS = ("input_image", "image_size", "image_resolution", "aspect_ratio", "task_id",
           "source_task_id", "origin_task_id")  # fmt: skip
BOOLEANS = ("google_search", "face_enhance")


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message},
        "request_id": ulid_id("req_"),
    }


GATEWAY = Gateway(
    NAME, error_body, (503, "upstream_unavailable", "Upstream provider is busy, try again")
)


def validate(body: dict[str, Any]) -> tuple[str, str, int]:
    """Check a create body against the docs; return (model, prompt, num_images)."""
    model = optional_str(body, "model") or DEFAULT_MODEL
    if model not in MODEL_TYPES:
        raise bad_request(f"model must be one of: {', '.join(MODEL_TYPES)}", "invalid_model")
    prompt = required_str(body, "prompt")
    optional_choice(body, "type", MODEL_TYPES[model])
    count = optional_int(body, "num_images", 1, 6) or 1
    optional_int(body, "scale", 1, 4)
    optional_int(body, "seed", -(2**63), 2**63 - 1)
    for name, choices in ENUMS.items():
        optional_choice(body, name, choices)
    for name in STRINGS:
        optional_str(body, name)
    for name in BOOLEANS:
        optional_bool(body, name)
    optional_str_list(body, "image_urls")
    return model, prompt, count


async def create(request: Request, sim: Simulator) -> Response:
    body = await read_json_object(request)
    key = request.headers.get("idempotency-key", "").strip()
    token = bearer_token(request) or ""
    fingerprint = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    if key:
        previous = sim.idempotency.get(token, key)
        if previous is not None:
            if previous.fingerprint != fingerprint:
                raise ApiError(
                    409,
                    "idempotency_conflict",
                    "Idempotency-Key was already used with a different request",
                )
            return json_response(previous.payload, headers={"Idempotent-Replayed": "true"})

    model, prompt, count = validate(body)
    directives = parse_directives(prompt)
    if directives.blocked:
        raise ApiError(451, "content_blocked", "Prompt blocked by content moderation")
    config = sim.config
    cost = config.apimall_credits_per_image * count
    now = clock.utcnow()
    if cost > sim.ledger.remaining(config.apimall_credits, now):
        raise ApiError(402, "insufficient_credits", "Insufficient credits")

    task = sim.create_task(
        task_id=ulid_id("img_"),
        gateway=NAME,
        model=model,
        params=body,
        directives=directives,
        image_count=count,
        base_url=base_url(request),
        credits_used=cost,
    )
    failing = task.plan.outcome is Phase.FAILED and task.plan.finishes_at is not None
    sim.ledger.charge(cost, refund_at=task.plan.finishes_at if failing else None)
    payload = {
        "success": True,
        "data": {
            "task_id": task.id,
            "request_id": ulid_id("provider_req_"),
            "credits_used": cost,
            "remaining_credits": sim.ledger.remaining(config.apimall_credits, now),
            "model": model,
        },
        "request_id": ulid_id("req_"),
    }
    if key:
        sim.idempotency.put(token, key, IdempotentAnswer(fingerprint, payload))
    sim.stats.record_task(task.id, f"{NAME}.create")
    return json_response(payload)


async def status(request: Request, sim: Simulator) -> Response:
    task = sim.tasks.get(request.path_params["task_id"], NAME)
    if task is None:
        raise ApiError(404, "task_not_found", "Task not found")
    sim.stats.record_task(task.id, f"{NAME}.status")
    now = clock.utcnow()
    phase = task.phase_at(now)
    urls = task.result_urls(base_url(request)) if phase is Phase.COMPLETED else []
    finished = task.finished_at(now)
    data = {
        "task_id": task.id,
        "model": task.model,
        "status": phase.value,
        "output": {"resultUrls": urls},
        "primary_url": urls[0] if urls else None,
        "image_url": urls[0] if urls else None,
        "error_message": task.plan.fail_message if phase is Phase.FAILED else None,
        "credits_used": task.credits_used,
        "credits_refunded": task.credits_used if phase is Phase.FAILED else 0,
        "created_at": iso_ms(task.created_at),
        "updated_at": iso_ms(task.updated_at(now)),
        "completed_at": iso_ms(finished) if finished is not None else None,
    }
    if phase.terminal:
        data = task.directives.finished_answer(data)
    return json_response({"success": True, "data": data, "request_id": ulid_id("req_")})


def routes(sim: Simulator) -> list[Route]:
    return [
        provider_route(sim, GATEWAY, "create", "/api/v1/images/generate", create, ["POST"]),
        provider_route(sim, GATEWAY, "status", "/api/v1/images/{task_id}", status, ["GET"]),
    ]
