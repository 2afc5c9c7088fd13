"""A genhook server under test: real uvicorn on loopback, a real database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from sqlalchemy import func
from sqlmodel import select

from receiver.app import create_app
from receiver.services import Services
from receiver.settings import Settings
from storage.models import (
    Asset,
    Delivery,
    DeliveryAttempt,
    OutboxEvent,
    Snapshot,
    Subscriber,
    Task,
)
from tests.support.servers import bind_loopback, serve, url_of


@dataclass
class Harness:
    base_url: str
    services: Services
    client: httpx.AsyncClient

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
    async with serve(app, sock=sock) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        yield Harness(base_url, app.state.services, client)
