"""``create_simulator_app(config)``: one Starlette app speaking all three contracts.

The three gateways' documented paths do not collide, so one app on one port serves
all of them and a single base URL works for every ``GENHOOK_<PROVIDER>_BASE_URL``.
The one overlap — apimodels' ``GET /api/v1/images/generations`` and API Mall's
``GET /api/v1/images/{task_id}`` — is settled by route order (apimodels first); API Mall
task ids start with ``img_`` so none is ever called ``generations``.

The lifespan starts and stops the callback sender; without it (e.g. an ASGI transport
that skips lifespan) every endpoint still works but callbacks stay queued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from receiver.simulator import apimall, apimart, apimodels, control, files
from receiver.simulator.config import SimulatorConfig
from receiver.simulator.runtime import Simulator

MAX_BODY_BYTES = 20 * 1024 * 1024  # APIMart accepts base64 reference images in the body


def create_simulator_app(config: SimulatorConfig | None = None) -> Starlette:
    """Build a simulator; its state is ``app.state.simulator`` (a :class:`Simulator`)."""
    simulator = Simulator(config or SimulatorConfig())
    provider_routes: list[BaseRoute] = [
        *apimodels.routes(simulator),  # before apimall: see the module docstring
        *apimall.routes(simulator),
        *apimart.routes(simulator),
        *files.routes(simulator),
    ]
    endpoints = [
        f"{method} {route.path}"
        for route in provider_routes
        if isinstance(route, Route)
        for method in sorted((route.methods or set()) - {"HEAD"})
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with simulator.running():
            yield

    app = Starlette(
        routes=[*provider_routes, *control.routes(simulator, endpoints)],
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.simulator = simulator
    return app
