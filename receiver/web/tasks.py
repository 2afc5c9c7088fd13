"""Admin and read API under ``/api``, plus ``/healthz`` and ``/readyz``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.callback_urls import NoCallbacksError, create_callback_url
from receiver.delivery.deliveries import delivery_view
from receiver.errors import UnknownProviderError
from receiver.services import Services
from receiver.submit import SubmissionRefused, SubmitRequest, Submitter, TrackRefused
from receiver.views import asset_view, event_view, snapshot_view, task_view
from receiver.web.http import JSONResponse, error, parse_body
from storage.engine import READ_ONLY
from storage.models import Task
from storage.queries import (
    TaskFilter,
    assets_for,
    deliveries_for,
    events_for,
    list_tasks,
    snapshots_for,
)

MAX_PAGE = 200


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the database answers."""
    try:
        async with _services(request).engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; say which
        return error(503, "database_unavailable", f"{type(exc).__name__}: {exc}")
    return JSONResponse({"status": "ready"})


class CallbackUrlBody(BaseModel):
    # Unknown fields are ignored, as this route always did (clients may send notes).
    model_config = ConfigDict(extra="ignore")

    provider: str


async def post_callback_url(request: Request) -> Response:
    body = await parse_body(request, CallbackUrlBody)
    if isinstance(body, Response):
        return body
    try:
        created = await create_callback_url(_services(request), body.provider)
    except UnknownProviderError as exc:
        return error(404, "unknown_provider", str(exc))
    except NoCallbacksError as exc:
        return error(422, "no_callbacks", str(exc))
    return JSONResponse(
        {
            "task_id": created.task_id,
            "provider": created.provider,
            "callback_url": created.callback_url,
        },
        status_code=201,
    )


class SubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str
    model: str = Field(min_length=1)
    prompt: str
    params: dict[str, Any] = Field(default_factory=dict)


class TrackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str
    provider_task_id: str = Field(min_length=1)
    model: str | None = None


async def post_task(request: Request) -> Response:
    body = await parse_body(request, SubmitBody)
    if isinstance(body, Response):
        return body
    submitter = Submitter(_services(request))
    try:
        task = await submitter.submit(
            SubmitRequest(body.provider, body.model, body.prompt, body.params)
        )
    except UnknownProviderError as exc:
        return error(404, "unknown_provider", str(exc))
    except SubmissionRefused as exc:
        return error(422, "invalid_request", str(exc), field=exc.field, task_id=exc.task_id)
    return JSONResponse(task_view(task), status_code=201)


async def post_track(request: Request) -> Response:
    body = await parse_body(request, TrackBody)
    if isinstance(body, Response):
        return body
    submitter = Submitter(_services(request))
    try:
        task = await submitter.track(body.provider, body.provider_task_id, body.model)
    except UnknownProviderError as exc:
        return error(404, "unknown_provider", str(exc))
    except TrackRefused as exc:
        return error(422, "track_refused", str(exc))
    except IntegrityError:
        return error(409, "already_tracked", "genhook already has a task for this provider task id")
    return JSONResponse(task_view(task), status_code=201)


async def get_task(request: Request) -> Response:
    task_id = request.path_params["task_id"]
    async with _services(request).sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        task = await session.get(Task, task_id)
        if task is None:
            return error(404, "task_not_found", f"no task with id {task_id!r}")
        snapshots = await snapshots_for(session, task_id)
        events = await events_for(session, task_id)
        deliveries = await deliveries_for(session, task_id)
        assets = await assets_for(session, task_id)
    base_url = _services(request).settings.public_url
    return JSONResponse(
        {
            **task_view(task),
            "snapshots": [snapshot_view(s) for s in snapshots],
            "events": [event_view(e) for e in events],
            "deliveries": [delivery_view(d, event_type) for d, event_type in deliveries],
            "assets": [asset_view(a, base_url) for a in assets],
        }
    )


async def get_tasks(request: Request) -> Response:
    params = request.query_params
    try:
        limit = int(params.get("limit", "50"))
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError
    except ValueError:
        return error(422, "invalid_limit", f"limit must be an integer from 1 to {MAX_PAGE}")
    try:
        filters = TaskFilter(
            status=params.get("status"),
            provider=params.get("provider"),
            model=params.get("model"),
            created_since=_parse_time(params.get("created_since")),
            created_until=_parse_time(params.get("created_until")),
        )
    except ValueError as exc:
        return error(422, "invalid_time", str(exc))
    async with _services(request).sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        tasks = await list_tasks(session, filters, limit=limit, before_id=params.get("cursor"))
    next_cursor = tasks[-1].id if len(tasks) == limit else None
    return JSONResponse({"tasks": [task_view(t) for t in tasks], "next_cursor": next_cursor})


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} needs a time zone (e.g. a trailing Z)")
    return parsed


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/api/callback-urls", post_callback_url, methods=["POST"]),
    Route("/api/tasks", get_tasks, methods=["GET"]),
    Route("/api/tasks", post_task, methods=["POST"]),
    Route("/api/tasks/track", post_track, methods=["POST"]),
    Route("/api/tasks/{task_id}", get_task, methods=["GET"]),
]
