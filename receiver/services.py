"""The long-lived parts a process needs, opened once and shared.

The web app's lifespan and every CLI command open the same :class:`Services`, so a
command run from a shell behaves exactly like the server: same database, same
migrations policy, same secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from receiver.ingest import Ingestor
from receiver.providers.base import ProviderAdapter
from receiver.providers.registry import build_adapters
from receiver.settings import Settings
from receiver.tokens import CallbackTokens, load_service_secret
from storage.engine import SessionFactory, create_engine, create_session_factory, is_sqlite
from storage.errors import MigrationRequiredError
from storage.migrate import pending_revisions, upgrade

log = logging.getLogger("genhook.services")

# Provider calls: connect fast or fail, but give a slow create time to answer.
PROVIDER_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    tokens: CallbackTokens
    ingestor: Ingestor
    http: httpx.AsyncClient
    adapters: Mapping[str, ProviderAdapter]
    dispatch_nudge: asyncio.Event  # set when events were committed: deliver them now

    def callback_url(self, provider: str, task_id: str) -> str:
        token = self.tokens.mint(provider, task_id)
        return f"{self.settings.public_url}/callbacks/{provider}/{token}"


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Open the database (migrating embedded SQLite) and everything built on it.

    A PostgreSQL schema behind the code is refused with :class:`MigrationRequiredError`:
    several processes share it, so only ``genhook db upgrade`` (the Procfile
    ``release`` step) migrates it.
    """
    engine = create_engine(settings.resolved_database_url)
    try:
        if is_sqlite(engine):
            await upgrade(engine)
        elif missing := await pending_revisions(engine):
            raise MigrationRequiredError(
                f"database schema lacks revisions {', '.join(missing)}: run `genhook db upgrade`"
            )
        sessions = create_session_factory(engine)
        dispatch_nudge = asyncio.Event()
        ingestor = Ingestor(sessions, on_events=dispatch_nudge.set)
        async with httpx.AsyncClient(timeout=PROVIDER_TIMEOUT) as http:
            try:
                yield Services(
                    settings=settings,
                    engine=engine,
                    sessions=sessions,
                    tokens=CallbackTokens(load_service_secret(settings)),
                    ingestor=ingestor,
                    http=http,
                    adapters=build_adapters(settings, http),
                    dispatch_nudge=dispatch_nudge,
                )
            finally:
                await ingestor.aclose()
    finally:
        await engine.dispose()
