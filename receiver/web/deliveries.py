"""``/api/deliveries``: what was sent to subscribers, what failed, and replay."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import clock, resources, views
from receiver.delivery.deliveries import ReplayRequest
from receiver.errors import DeliveryNotFoundError
from receiver.params import MAX_ID, DeliveryQuery, ReplayBody, parse_since
from receiver.web.http import parse_body, parse_query, respond, services
from receiver.web.operation import operation


@operation(
    "Webhook deliveries, newest first",
    "delivery",
    query=DeliveryQuery,
    ok={200: resources.DeliveryPage},
    errors={422: "a parameter is invalid (named in the message)"},
)
async def get_deliveries(request: Request) -> Response:
    query = parse_query(request, DeliveryQuery)
    rows = await services(request).deliveries.list(query)
    next_cursor = rows[-1][0].id if len(rows) == query.limit else None
    return respond(
        resources.DeliveryPage(
            deliveries=[views.delivery(d, t) for d, t in rows], next_cursor=next_cursor
        )
    )


@operation(
    "One delivery with its attempts",
    "delivery",
    ok={200: resources.DeliveryDetail},
    errors={404: "no such delivery"},
)
async def get_delivery(request: Request) -> Response:
    raw = request.path_params["delivery_id"]
    delivery_id = int(raw) if raw.isdigit() else 0
    if not 1 <= delivery_id <= MAX_ID:
        raise DeliveryNotFoundError(raw)
    delivery, event_type, attempts = await services(request).deliveries.get(delivery_id)
    return respond(views.delivery_detail(delivery, event_type, attempts))


@operation(
    "Send deliveries of one subscriber again",
    "delivery",
    body=ReplayBody,
    ok={200: resources.ReplayResult},
    errors={
        400: "body is not JSON",
        404: "no such subscriber or event",
        422: "invalid body",
    },
)
async def post_replay(request: Request) -> Response:
    body = await parse_body(request, ReplayBody)
    now = clock.utcnow()
    since: datetime | None = parse_since(body.since, now) if body.since else None
    requeued = await services(request).deliveries.replay(
        ReplayRequest(body.subscriber, since=since, event_id=body.event, dead_only=body.dead), now
    )
    return respond(resources.ReplayResult(requeued=requeued))


routes = [
    Route("/api/deliveries", get_deliveries, methods=["GET"]),
    Route("/api/deliveries/replay", post_replay, methods=["POST"]),
    Route("/api/deliveries/{delivery_id}", get_delivery, methods=["GET"]),
]
