"""The path every provider request takes before its handler runs.

count the request → injected slowness → injected 429 / 5xx → bearer auth → handler,
and every :class:`~receiver.simulator.errors.ApiError` a handler raises is answered in
the gateway's own error envelope. Gateways only describe their envelope
(:class:`Gateway`); the order of checks and the bookkeeping live here, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.simulator.errors import ApiError
from receiver.simulator.faults import FaultKind, FaultPlan, plan_faults
from receiver.simulator.runtime import Simulator
from receiver.simulator.wire import bearer_token, json_response

Handler = Callable[[Request, Simulator], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Gateway:
    """How one gateway words its errors.

    ``error_body(status, code, message)`` builds the documented error JSON;
    ``server_error`` is the status, code and message of an injected outage.
    """

    name: str
    error_body: Callable[[int, str, str], dict[str, Any]]
    server_error: tuple[int, str, str]

    def error(self, exc: ApiError, headers: dict[str, str] | None = None) -> Response:
        body = self.error_body(exc.status, exc.code, exc.message)
        return json_response(body, exc.status, headers)


RATE_LIMITED = ApiError(429, "rate_limit_exceeded", "Rate limit exceeded")
KEY_REQUIRED = ApiError(401, "api_key_required", "API key required")
KEY_INVALID = ApiError(401, "invalid_api_key", "Invalid API key")


async def apply_faults(sim: Simulator, gateway: str | None, request: Request) -> FaultPlan:
    """Roll this request's faults and serve the injected slowness."""
    plan = plan_faults(sim.config, sim.rng, gateway, request.url.path)
    if plan.delay > 0:
        await asyncio.sleep(plan.delay)
    return plan


def provider_route(
    sim: Simulator,
    gateway: Gateway,
    action: str,
    path: str,
    handler: Handler,
    methods: Collection[str],
) -> Route:
    """A Starlette route for ``handler`` behind counting, faults and auth."""
    endpoint_name = f"{gateway.name}.{action}"

    async def endpoint(request: Request) -> Response:
        sim.stats.record_request(endpoint_name)
        response = await _guarded(request)
        sim.stats.record_status(endpoint_name, response.status_code)
        return response

    async def _guarded(request: Request) -> Response:
        plan = await apply_faults(sim, gateway.name, request)
        if plan.kind is FaultKind.RATE_LIMIT:
            return gateway.error(RATE_LIMITED, {"Retry-After": sim.config.retry_after_header()})
        if plan.kind is FaultKind.SERVER_ERROR:
            return gateway.error(ApiError(*gateway.server_error))
        token = bearer_token(request)
        if token is None:
            return gateway.error(KEY_REQUIRED)
        if sim.config.api_key is not None and token != sim.config.api_key:
            return gateway.error(KEY_INVALID)
        try:
            return await handler(request, sim)
        except ApiError as exc:
            return gateway.error(exc)

    return Route(path, endpoint, methods=list(methods), name=endpoint_name)
