"""``GET /metrics``: Prometheus' text format, behind the admin API's access rule.

What it contains and how processes add up is :mod:`receiver.exposition`'s business;
this route only serves it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.web.http import services
from receiver.web.operation import operation


@operation(
    "Prometheus metrics (text exposition format)",
    "service",
    ok={200: ("text/plain", "application/openmetrics-text")},
    description="Every metric and its meaning is listed in the README (Operations).",
)
async def get_metrics(request: Request) -> Response:
    body, content_type = await services(request).exposition.render(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})


routes = [Route("/metrics", get_metrics, methods=["GET"])]
