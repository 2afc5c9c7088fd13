"""Delivery routes: ``/api/subscribers``, ``/api/deliveries`` and the ``/api/events`` stream.

The same operations as ``genhook subscribers`` / ``genhook deliveries``, through the
same :class:`~receiver.delivery.subscribers.Subscribers` and
:class:`~receiver.delivery.deliveries.Deliveries`, so they refuse the same input with the same
error codes. Every error is ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import clock
from receiver.delivery.deliveries import (
    STATUSES,
    Deliveries,
    DeliveryFilter,
    ReplayRequest,
    attempt_view,
    delivery_view,
    parse_since,
)
from receiver.delivery.subscribers import Subscribers, subscriber_view
from receiver.errors import DeliveryError, InvalidSubscriberError, TargetRefusedError
from receiver.services import Services
from receiver.stream import get_events
from receiver.web.http import JSONResponse, error, parse_body

MAX_PAGE = 200
MAX_ID = 2**31 - 1  # deliveries.id is a 32-bit integer on PostgreSQL
NUL_MESSAGE = "parameters cannot contain NUL characters"

Handler = Callable[[Request], Awaitable[Response]]


def has_nul(*values: object) -> bool:
    """Text with NUL cannot be stored or compared in PostgreSQL: refuse it up front."""
    return any(isinstance(v, str) and "\x00" in v for v in values)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _refusals(handler: Handler) -> Handler:
    """Map the delivery error family onto HTTP answers."""

    async def wrapped(request: Request) -> Response:
        if has_nul(*request.path_params.values(), *request.query_params.values()):
            return error(422, "invalid_request", NUL_MESSAGE)
        try:
            return await handler(request)
        except (InvalidSubscriberError, TargetRefusedError) as exc:
            return error(422, exc.code, str(exc))
        except DeliveryError as exc:
            return error(404, exc.code, str(exc))

    return wrapped


class SubscriberBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    event_types: list[str] = Field(default_factory=list)
    secret: str | None = None


class RotateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str | None = None


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscriber: str
    since: str | None = None
    event: str | None = None
    dead: bool = False

    @field_validator("subscriber", "event")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if has_nul(value):
            raise ValueError(NUL_MESSAGE)
        return value

    @field_validator("since")
    @classmethod
    def _since_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_since(value, clock.utcnow())  # raises ValueError with a clear message
        return value


@_refusals
async def post_subscriber(request: Request) -> Response:
    body = await parse_body(request, SubscriberBody)
    if isinstance(body, Response):
        return body
    subscriber = await Subscribers(_services(request)).add(body.url, body.event_types, body.secret)
    return JSONResponse(subscriber_view(subscriber, with_secret=True), status_code=201)


@_refusals
async def get_subscribers(request: Request) -> Response:
    subscribers = await Subscribers(_services(request)).list()
    return JSONResponse({"subscribers": [subscriber_view(s) for s in subscribers]})


@_refusals
async def get_subscriber(request: Request) -> Response:
    subscriber = await Subscribers(_services(request)).get(request.path_params["subscriber_id"])
    return JSONResponse(subscriber_view(subscriber, with_secret=True))


@_refusals
async def delete_subscriber(request: Request) -> Response:
    await Subscribers(_services(request)).remove(request.path_params["subscriber_id"])
    return Response(status_code=204)


@_refusals
async def disable_subscriber(request: Request) -> Response:
    subscriber_id = request.path_params["subscriber_id"]
    manager = Subscribers(_services(request))
    dead = await manager.disable(subscriber_id)
    view = subscriber_view(await manager.get(subscriber_id))
    return JSONResponse({**view, "dead_lettered": dead})


@_refusals
async def enable_subscriber(request: Request) -> Response:
    subscriber = await Subscribers(_services(request)).enable(request.path_params["subscriber_id"])
    return JSONResponse(subscriber_view(subscriber))


@_refusals
async def rotate_subscriber(request: Request) -> Response:
    body = await parse_body(request, RotateBody) if await request.body() else RotateBody()
    if isinstance(body, Response):
        return body
    subscriber = await Subscribers(_services(request)).rotate(
        request.path_params["subscriber_id"], body.secret
    )
    return JSONResponse(subscriber_view(subscriber, with_secret=True))


@_refusals
async def get_deliveries(request: Request) -> Response:
    params = request.query_params
    try:
        limit = int(params.get("limit", "50"))
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError
        cursor = int(params["cursor"]) if params.get("cursor") else None
        if cursor is not None and not 1 <= cursor <= MAX_ID:
            raise ValueError
    except ValueError:
        return error(422, "invalid_request", f"limit must be 1 to {MAX_PAGE}, cursor a delivery id")
    status = params.get("status")
    if status is not None and status not in STATUSES:
        return error(422, "invalid_request", f"status must be one of {', '.join(STATUSES)}")
    filters = DeliveryFilter(
        subscriber_id=params.get("subscriber"),
        status=status,
        task_id=params.get("task_id"),
        event_id=params.get("event"),
    )
    rows = await Deliveries(_services(request)).list(filters, limit=limit, before_id=cursor)
    next_cursor = rows[-1][0].id if len(rows) == limit else None
    return JSONResponse(
        {"deliveries": [delivery_view(d, t) for d, t in rows], "next_cursor": next_cursor}
    )


@_refusals
async def get_delivery(request: Request) -> Response:
    try:
        delivery_id = int(request.path_params["delivery_id"])
        if not 1 <= delivery_id <= MAX_ID:
            raise ValueError
    except ValueError:
        return error(404, "delivery_not_found", "no such delivery (ids are positive integers)")
    delivery, event_type, attempts = await Deliveries(_services(request)).get(delivery_id)
    return JSONResponse(
        {**delivery_view(delivery, event_type), "attempts": [attempt_view(a) for a in attempts]}
    )


@_refusals
async def post_replay(request: Request) -> Response:
    body = await parse_body(request, ReplayBody)
    if isinstance(body, Response):
        return body
    now = clock.utcnow()
    since: datetime | None = parse_since(body.since, now) if body.since else None
    requeued = await Deliveries(_services(request)).replay(
        ReplayRequest(body.subscriber, since=since, event_id=body.event, dead_only=body.dead), now
    )
    result: dict[str, Any] = {"requeued": requeued}
    return JSONResponse(result)


routes = [
    Route("/api/events", get_events, methods=["GET"]),
    Route("/api/subscribers", get_subscribers, methods=["GET"]),
    Route("/api/subscribers", post_subscriber, methods=["POST"]),
    Route("/api/subscribers/{subscriber_id}", get_subscriber, methods=["GET"]),
    Route("/api/subscribers/{subscriber_id}", delete_subscriber, methods=["DELETE"]),
    Route("/api/subscribers/{subscriber_id}/disable", disable_subscriber, methods=["POST"]),
    Route("/api/subscribers/{subscriber_id}/enable", enable_subscriber, methods=["POST"]),
    Route("/api/subscribers/{subscriber_id}/rotate", rotate_subscriber, methods=["POST"]),
    Route("/api/deliveries", get_deliveries, methods=["GET"]),
    Route("/api/deliveries/replay", post_replay, methods=["POST"]),
    Route("/api/deliveries/{delivery_id}", get_delivery, methods=["GET"]),
]
