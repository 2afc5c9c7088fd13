"""``create_app(settings)``: the ASGI application.

The lifespan opens the shared :class:`~receiver.services.Services` (database,
migrations for embedded SQLite, secret) and closes them on shutdown; background
parts (poller, dispatcher) will start here too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.services import Services, open_services
from receiver.settings import Settings
from receiver.submit import Submitter
from receiver.web import assets as asset_routes
from receiver.web import delivery as api_delivery
from receiver.web import openapi
from receiver.web import tasks as api
from receiver.web.auth import AdminAuthMiddleware
from receiver.web.callbacks import receive_callback
from receiver.web.dashboard import pages as dashboard
from receiver.web.http import error
from receiver.web.nul_guard import RefuseNulMiddleware
from receiver.worker import background_jobs, running_jobs

log = logging.getLogger("genhook.app")


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            await _reconcile_on_start(services)
            if settings.run_background:
                async with running_jobs(background_jobs(services)):
                    yield
            else:
                yield

    token = settings.api_token.get_secret_value() if settings.api_token else None
    return Starlette(
        routes=[
            Route("/callbacks/{provider}/{token}", receive_callback, methods=["POST"]),
            *api.routes,
            *api_delivery.routes,
            *asset_routes.routes,
            *openapi.routes,
            *dashboard.routes,
        ],
        middleware=[
            Middleware(RefuseNulMiddleware),
            Middleware(AdminAuthMiddleware, api_token=token),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
        lifespan=lifespan,
    )


async def _reconcile_on_start(services: Services) -> None:
    """Settle creates a crashed predecessor left unconfirmed (see ``receiver.submit``)."""
    try:
        settled = await Submitter(services).reconcile_unconfirmed()
    except Exception:  # a provider outage must not keep the receiver from starting
        log.exception("reconciling unconfirmed submissions failed; will retry later")
        return
    for task_id, verdict in settled:
        log.info("unconfirmed submission %s: %s", task_id, verdict)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error(500, "internal_error", "internal error; see the server log")
