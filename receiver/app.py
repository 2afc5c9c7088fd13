"""``create_app(settings)``: the ASGI application, wired.

The web layer (:mod:`receiver.web.application`) gets two things from here: the
settings with the admin API token resolved (``GENHOOK_API_TOKEN`` or the one kept
in the data dir: there is no unauthenticated mode), and how to open this process's
runtime. That is the services and, unless this is a web-only process
(``--no-background``), the background jobs (among them the reconciler, which
settles at start what a crashed predecessor left unconfirmed). A web-only process
calls no provider but to submit what it is asked to.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from receiver.services import Services, open_services
from receiver.settings import Settings
from receiver.tokens import load_api_token
from receiver.web import server
from receiver.web.application import WebApp, build_app, build_ops_app
from receiver.worker import background_jobs, running_jobs

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> WebApp:
    token, _ = load_api_token(settings)
    settings = settings.updated(api_token=token)

    @contextlib.asynccontextmanager
    async def runtime() -> AsyncIterator[Services]:
        async with open_services(settings) as services:
            if settings.run_background:
                jobs = background_jobs(services, kind="serve")
                async with running_jobs(
                    jobs,
                    services.wakeups,
                    services.jobs,
                    grace_seconds=settings.shutdown_grace_seconds,
                ):
                    yield services
            else:
                yield services

    return build_app(settings, runtime)


def app_from_environment() -> WebApp:
    """``genhook serve --workers N``: each uvicorn worker process builds its app here,
    from the environment the command prepared (settings are read once per process)."""
    settings = Settings()
    server.HeaderDeadlineProtocol.header_timeout = settings.server.header_timeout_seconds
    return create_app(settings)


def create_ops_app(settings: Settings, services: Services) -> WebApp:
    """Health and metrics routes on already opened services (``genhook worker``)."""
    return build_ops_app(settings, services)


def server_options(settings: Settings) -> dict[str, Any]:
    """The HTTP server's options against slow and broken clients (``receiver.web.server``),
    for ``uvicorn.run`` and ``uvicorn.Config``."""
    return {
        **server.uvicorn_options(settings.server),
        # requests in flight (an SSE stream ends at once) get the grace period to finish
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
