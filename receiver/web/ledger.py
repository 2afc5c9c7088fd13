"""``GET /api/routes`` and ``GET /api/usage``: the routes a job may name, and what the
attempts cost (what ``genhook routes`` and ``genhook usage`` print)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import resources
from receiver.params import UsageQuery
from receiver.web.http import parse_query, respond, services
from receiver.web.operation import operation
from storage.engine import READ_ONLY
from storage.ledger import usage


@operation(
    "Routes: a name and its targets, tried in order",
    "routes",
    ok={200: resources.RouteList},
)
async def get_routes(request: Request) -> Response:
    return respond(
        resources.RouteList(
            routes=[
                resources.RouteView.model_validate(route.describe())
                for route in services(request).router().routes
            ]
        )
    )


@operation(
    "What attempts cost, summed by provider, model or UTC day",
    "routes",
    query=UsageQuery,
    ok={200: resources.Usage},
    errors={422: "a bad since, until or group_by"},
    description="API Mall's attempts cost the credits it reports (used minus refunded); "
    "the other gateways' the configured price per image (GENHOOK_<PROVIDER>_PRICES); an "
    "attempt still running counts its estimate. One row per unit.",
)
async def get_usage(request: Request) -> Response:
    query = parse_query(request, UsageQuery)
    async with services(request).sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        sums = await usage(
            session, group_by=query.group_by.value, since=query.since, until=query.until
        )
    return respond(
        resources.Usage(
            group_by=query.group_by.value,
            since=query.since,
            until=query.until,
            rows=[
                resources.UsageRow(
                    key=s.key,
                    provider=s.provider,
                    unit=s.unit,
                    attempts=s.attempts,
                    images=s.images,
                    cost=s.cost,
                )
                for s in sums
            ],
        )
    )


routes = [
    Route("/api/routes", get_routes, methods=["GET"]),
    Route("/api/usage", get_usage, methods=["GET"]),
]
