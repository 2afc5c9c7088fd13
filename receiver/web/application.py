"""The Starlette application: routes, middleware and the error handlers.

:func:`build_app` knows nothing of how services are opened; the composition root
(:func:`receiver.app.create_app`) hands it ``open_runtime``, and the lifespan puts
what that yields where :func:`receiver.web.http.services` finds it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from receiver.errors import GenhookError
from receiver.settings import Settings
from receiver.web import (
    assets,
    callbacks,
    deliveries,
    events,
    health,
    ledger,
    metrics,
    openapi,
    subscribers,
    tasks,
    workers,
)
from receiver.web.auth import AdminAuthMiddleware
from receiver.web.dashboard import pages as dashboard
from receiver.web.dashboard import stats as dashboard_stats
from receiver.web.http import DATABASE_FAILURES, error, error_response, storage_unavailable
from receiver.web.nul_guard import RefuseNulMiddleware
from storage.errors import is_unavailable

if TYPE_CHECKING:
    from receiver.services import Services

log = logging.getLogger(__name__)

WebApp = Starlette


def build_app(
    settings: Settings, open_runtime: Callable[[], AbstractAsyncContextManager[Services]]
) -> WebApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_runtime() as services:
            app.state.services = services
            yield

    if settings.api_token is None:
        raise ValueError("build_app needs the resolved API token (see receiver.app.create_app)")
    token = settings.api_token.get_secret_value()
    return Starlette(
        routes=[
            *callbacks.routes,
            *health.routes,
            *tasks.routes,
            *events.routes,
            *subscribers.routes,
            *deliveries.routes,
            *workers.routes,
            *ledger.routes,
            *metrics.routes,
            *assets.routes,
            *openapi.routes,
            *dashboard_stats.routes,
            *dashboard.routes,
        ],
        middleware=[
            # Outermost first: who may ask, then what may be asked (bodies are read,
            # bounded and with a deadline, by the routes: web.http.parse_body).
            Middleware(AdminAuthMiddleware, api_token=token),
            Middleware(RefuseNulMiddleware),
        ],
        exception_handlers={
            HTTPException: _http_error,
            GenhookError: _genhook_error,
            **dict.fromkeys(DATABASE_FAILURES, _database_error),
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
    )


def build_ops_app(settings: Settings, services: Services) -> WebApp:
    """``/healthz``, ``/readyz`` and ``/metrics`` alone, for ``genhook worker
    --metrics-port``: the same handlers and access rule as the web process, on
    services the worker has already opened."""
    if settings.api_token is None:
        raise ValueError("build_ops_app needs the resolved API token (see receiver.cli.serve)")
    token = settings.api_token.get_secret_value()
    app = Starlette(
        routes=[*health.routes, *metrics.routes],
        middleware=[Middleware(AdminAuthMiddleware, api_token=token)],
        exception_handlers={
            HTTPException: _http_error,
            **dict.fromkeys(DATABASE_FAILURES, _database_error),
            Exception: _unexpected_error,
        },
    )
    app.state.services = services
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


async def _genhook_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GenhookError)
    return error_response(exc)


async def _database_error(request: Request, exc: Exception) -> Response:
    if not is_unavailable(exc):
        return await _unexpected_error(request, exc)
    return storage_unavailable(exc)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error(500, "internal_error", "internal error; see the server log")
