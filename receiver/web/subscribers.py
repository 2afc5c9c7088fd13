"""``/api/subscribers``: the same operations as ``genhook subscribers``, through the
same :class:`~receiver.delivery.subscribers.Subscribers`, so both refuse the same
input with the same error codes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import resources, views
from receiver.params import DisableBody, RotateBody, SubscriberBody, SubscriberQuery
from receiver.web.http import parse_body, parse_query, respond, services
from receiver.web.operation import operation

NOT_FOUND = {404: "no such subscriber"}


@operation(
    "Webhook subscribers for all tasks (with task_id: that task's own webhooks)",
    "delivery",
    query=SubscriberQuery,
    ok={200: resources.SubscriberList},
    errors={422: "a parameter is invalid"},
)
async def get_subscribers(request: Request) -> Response:
    query = parse_query(request, SubscriberQuery)
    found = await services(request).subscribers.list(task_id=query.task_id)
    return respond(resources.SubscriberList(subscribers=[views.subscriber(s) for s in found]))


@operation(
    "Add a webhook subscriber",
    "delivery",
    body=SubscriberBody,
    ok={201: resources.SubscriberWithSecret},
    errors={400: "body is not JSON", 422: "unusable field"},
)
async def post_subscriber(request: Request) -> Response:
    body = await parse_body(request, SubscriberBody)
    added = await services(request).subscribers.add(body.url, body.event_types, body.secret)
    return respond(views.subscriber_with_secret(added), 201)


@operation(
    "One subscriber, with its secret",
    "delivery",
    ok={200: resources.SubscriberWithSecret},
    errors=NOT_FOUND,
)
async def get_subscriber(request: Request) -> Response:
    found = await services(request).subscribers.get(request.path_params["subscriber_id"])
    return respond(views.subscriber_with_secret(found))


@operation("Remove a subscriber with its deliveries", "delivery", ok={204: None}, errors=NOT_FOUND)
async def delete_subscriber(request: Request) -> Response:
    await services(request).subscribers.remove(request.path_params["subscriber_id"])
    return Response(status_code=204)


@operation(
    "Disable a subscriber (its pending deliveries are dead-lettered)",
    "delivery",
    body=DisableBody,
    ok={200: resources.DisabledSubscriber},
    errors={**NOT_FOUND, 400: "body is not JSON", 422: "invalid body"},
)
async def disable_subscriber(request: Request) -> Response:
    body = await parse_body(request, DisableBody, default=DisableBody())
    subscriber_id = request.path_params["subscriber_id"]
    manager = services(request).subscribers
    dead = await (
        manager.disable(subscriber_id, body.reason)
        if body.reason
        else manager.disable(subscriber_id)
    )
    disabled = views.subscriber(await manager.get(subscriber_id))
    return respond(resources.DisabledSubscriber(**dict(disabled), dead_lettered=dead))


@operation("Enable a subscriber", "delivery", ok={200: resources.Subscriber}, errors=NOT_FOUND)
async def enable_subscriber(request: Request) -> Response:
    enabled = await services(request).subscribers.enable(request.path_params["subscriber_id"])
    return respond(views.subscriber(enabled))


@operation(
    "Rotate a subscriber's signing secret",
    "delivery",
    body=RotateBody,
    ok={200: resources.SubscriberWithSecret},
    errors={**NOT_FOUND, 400: "body is not JSON", 422: "malformed secret"},
)
async def rotate_subscriber(request: Request) -> Response:
    body = await parse_body(request, RotateBody, default=RotateBody())
    rotated = await services(request).subscribers.rotate(
        request.path_params["subscriber_id"], body.secret
    )
    return respond(views.subscriber_with_secret(rotated))


routes = [
    Route("/api/subscribers", get_subscribers, methods=["GET"]),
    Route("/api/subscribers", post_subscriber, methods=["POST"]),
    Route("/api/subscribers/{subscriber_id}", get_subscriber, methods=["GET"]),
    Route("/api/subscribers/{subscriber_id}", delete_subscriber, methods=["DELETE"]),
    Route("/api/subscribers/{subscriber_id}/disable", disable_subscriber, methods=["POST"]),
    Route("/api/subscribers/{subscriber_id}/enable", enable_subscriber, methods=["POST"]),
    Route("/api/subscribers/{subscriber_id}/rotate", rotate_subscriber, methods=["POST"]),
]
