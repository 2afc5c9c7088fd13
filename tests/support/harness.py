"""A genhook server under test: real uvicorn on loopback, a real database.

The admin API always wants its token; the harness's client sends it (the one in the
settings, or the one the server generated into its data dir), so tests speak to
the API as any authorised client does. ``anonymous`` is a client without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from sqlalchemy import func
from sqlmodel import select

from receiver.app import create_app, server_options
from receiver.services import Services
from receiver.settings import Settings
from receiver.web.application import WebApp
from storage.models import (
    Asset,
    Delivery,
    DeliveryAttempt,
    OutboxEvent,
    Snapshot,
    Subscriber,
    Task,
)
from tests.support.servers import bind_loopback, client_tls, serve, url_of


@dataclass
class Harness:
    base_url: str
    services: Services
    client: httpx.AsyncClient
    app: WebApp  # the very application served: its route table, for tests that walk it

    @property
    def token(self) -> str:
        token = self.services.settings.api_token
        assert token is not None  # create_app resolves it
        return token.get_secret_value()

    @property
    def auth(self) -> dict[str, str]:
        """The header an authorised client sends."""
        return {"Authorization": f"Bearer {self.token}"}

    def anonymous(self) -> httpx.AsyncClient:
        """A client of this server without the token."""
        return httpx.AsyncClient(base_url=self.base_url, verify=client_tls())

    async def counts(self) -> dict[str, int]:
        """Rows per table: how tests prove that something was, or was not, written."""
        counts = {}
        async with self.services.sessions() as session:
            for name, model in (
                ("tasks", Task),
                ("snapshots", Snapshot),
                ("outbox", OutboxEvent),
                ("subscribers", Subscriber),
                ("deliveries", Delivery),
                ("delivery_attempts", DeliveryAttempt),
                ("assets", Asset),
            ):
                result = await session.exec(select(func.count()).select_from(model))
                counts[name] = result.one()
        return counts


@contextlib.asynccontextmanager
async def running_genhook(
    settings: Settings, *, own_public_url: bool = False
) -> AsyncIterator[Harness]:
    """Serve genhook; with ``own_public_url`` callback URLs point at this very server."""
    sock = bind_loopback()
    if own_public_url:
        settings = settings.model_copy(update={"public_url": url_of(sock)})
    app = create_app(settings)
    options = server_options(settings)  # as `genhook serve` runs: slow clients are cut off
    async with serve(app, sock=sock, options=options) as base_url:
        services: Services = app.state.services
        token = services.settings.api_token
        assert token is not None
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
        async with httpx.AsyncClient(
            base_url=base_url, headers=headers, verify=client_tls()
        ) as client:
            yield Harness(base_url, services, client, app)
