"""``create_app(settings)``: the ASGI application, wired.

The web layer (:mod:`receiver.web.application`) gets two things from here: the
settings with the admin API token resolved (``GENHOOK_API_TOKEN`` or the one kept
in the data dir: there is no unauthenticated mode), and how to open this process's
runtime. That is the services, a reconcile of creates a crashed
predecessor left unconfirmed, and, unless this is a web-only process
(``--no-background``), the background jobs.
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
            await _reconcile_on_start(services)
            if settings.run_background:
                jobs = background_jobs(services, kind="serve")
                async with running_jobs(jobs, services.wakeups, services.jobs):
                    yield services
            else:
                yield services

    return build_app(settings, runtime)


def create_ops_app(settings: Settings, services: Services) -> WebApp:
    """Health and metrics routes on already opened services (``genhook worker``)."""
    return build_ops_app(settings, services)


def server_options(settings: Settings) -> dict[str, Any]:
    """The HTTP server's options against slow and broken clients (``receiver.web.server``),
    for ``uvicorn.run`` and ``uvicorn.Config``."""
    return server.uvicorn_options(settings.server)


async def _reconcile_on_start(services: Services) -> None:
    """Settle creates a crashed predecessor left unconfirmed (see ``receiver.submit``)."""
    try:
        settled = await services.submitter().reconcile_unconfirmed()
    except Exception:  # a provider outage must not keep the receiver from starting
        log.exception("reconciling unconfirmed submissions failed; will retry later")
        return
    for task_id, verdict in settled:
        log.info("unconfirmed submission %s: %s", task_id, verdict)
