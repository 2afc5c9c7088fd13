"""The composition root: every long-lived part of a process, built once and wired.

The web app's lifespan, ``genhook worker`` and every CLI command open the same
:class:`Services`, so a command run from a shell behaves exactly like the server:
same database, same migrations policy, same secret. Components receive only what
they use (sessions, the HTTP client, their settings section, a callback for "events
were committed"); this module is the one place that knows where each comes from.
Parts that are made per worker (they carry a lease holder name) have factory
methods here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from receiver import leases, netguard
from receiver.assets.mirror import Mirror
from receiver.assets.store import AssetStore, LocalAssetStore
from receiver.budgets import Budgets
from receiver.delivery.deliveries import Deliveries
from receiver.delivery.dispatcher import Dispatcher
from receiver.delivery.subscribers import ALLOW_HINT as DELIVERY_ALLOW_HINT
from receiver.delivery.subscribers import Subscribers
from receiver.errors import DatabaseSetupError, MigrationRequiredError
from receiver.exposition import Exposition
from receiver.heartbeat import Heartbeat, JobBoard
from receiver.ingest import BatchWriter, Ingestor, SessionWriter, SqliteThreadWriter
from receiver.poller import Poller
from receiver.pressure import ProviderPressure
from receiver.providers.base import CallbackAdapter, ProviderAdapter
from receiver.providers.registry import build_adapters, settlement_rules
from receiver.routes import Route, load_routes
from receiver.routes.costs import Ledger, PriceList
from receiver.routing import Router
from receiver.settings import PROVIDERS, Settings
from receiver.stream import EventStream
from receiver.submit import Submitter
from receiver.tokens import CallbackTokens, CallbackUrls, load_service_secret
from receiver.wakeups import Topic, Wakeups
from storage.engine import (
    SessionFactory,
    Timeouts,
    create_engine,
    create_session_factory,
    is_sqlite,
)
from storage.errors import StorageError
from storage.migrate import pending_revisions, upgrade
from storage.sqlite_thread import SqliteWriterThread
from storage.wakeups import LocalPeers, listen

log = logging.getLogger(__name__)

# Provider calls: connect fast or fail, but give a slow create time to answer.
PROVIDER_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Webhooks and image downloads set their own overall deadlines; connect stays short.
OUTBOUND_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    http: httpx.AsyncClient  # to the providers (addresses the operator configured)
    webhook_http: httpx.AsyncClient  # to subscribers: connects only to checked addresses
    asset_http: httpx.AsyncClient  # to result image hosts: the same, with its own setting
    adapters: Mapping[str, ProviderAdapter]
    callback_adapters: Mapping[str, CallbackAdapter]  # the ones that call us back
    callback_urls: CallbackUrls
    ingestor: Ingestor
    asset_store: AssetStore
    subscribers: Subscribers
    deliveries: Deliveries
    stream: EventStream
    wakeups: Wakeups  # told of every commit's work, by this process and (PostgreSQL) others
    jobs: JobBoard  # this process's background jobs and their runs (empty: none run here)
    exposition: Exposition  # what /metrics answers
    routes: Mapping[str, Route]  # built-in, the routes file, GENHOOK_ROUTES
    ledger: Ledger  # prices and low-balance thresholds
    pressure: ProviderPressure  # this process's view of each provider's health

    @property
    def budgets(self) -> Budgets:
        return Budgets(
            {name: self.settings.for_provider(name).daily_budget for name in PROVIDERS},
            self.ledger,
        )

    def router(self, *, holder: str = "route") -> Router:
        return Router(
            self.sessions,
            self.submitter(holder=holder),
            self.adapters,
            self.routes,
            self.budgets,
            deadline_seconds=self.settings.task_deadline_seconds,
            pressure=self.pressure,
            holder=holder,
        )

    def submitter(self, *, holder: str = "submit", rng: random.Random | None = None) -> Submitter:
        return Submitter(
            self.sessions,
            self.adapters,
            self.ingestor,
            self.callback_urls,
            self.settings.cadences(),
            self.subscribers,
            settlement_rules(self.settings),
            deadline_seconds=self.settings.task_deadline_seconds,
            budgets=self.budgets,
            ledger=self.ledger,
            holder=holder,
            reconcile_lease_seconds=self.settings.reconcile_lease_seconds,
            rng=rng,
        )

    def poller(
        self,
        *,
        holder: str | None = None,
        rng: random.Random | None = None,
        pressure: ProviderPressure | None = None,
    ) -> Poller:
        return Poller(
            self.sessions,
            self.adapters,
            self.settings.poll,
            self.settings.cadences(),
            expire_grace_seconds=self.settings.expire_grace_seconds,
            pressure=pressure or self.pressure,
            ledger=self.ledger,
            holder=holder,
            rng=rng,
        )

    def dispatcher(self, *, holder: str, rng: random.Random | None = None) -> Dispatcher:
        return Dispatcher(
            self.sessions,
            self.webhook_http,
            self.settings.delivery,
            self.settings.dispatch,
            holder=holder,
            rng=rng,
        )

    async def release_leases(self, holder: str, models: Sequence[type[SQLModel]]) -> None:
        """What ``holder`` still holds on ``models``, given back (a clean stop)."""
        await leases.release(self.sessions, models, holder=holder)

    def heartbeat(self, *, worker_id: str, kind: str) -> Heartbeat:
        return Heartbeat(
            self.sessions, self.jobs, self.settings.health, worker_id=worker_id, kind=kind
        )

    def mirror(self, *, holder: str | None = None, rng: random.Random | None = None) -> Mirror:
        return Mirror(
            self.sessions,
            self.asset_http,
            self.asset_store,
            self.settings.assets,
            public_url=self.settings.resolved_public_url,
            holder=holder,
            rng=rng,
        )


def build_ledger(settings: Settings) -> Ledger:
    """Each provider's prices and low-balance threshold, from its settings section."""
    sections = {name: settings.for_provider(name) for name in PROVIDERS}
    return Ledger(
        prices={name: PriceList(s.price_unit, s.prices) for name, s in sections.items()},
        credits_low={
            name: s.credits_low for name, s in sections.items() if s.credits_low is not None
        },
    )


def build_routes(settings: Settings) -> dict[str, Route]:
    """The built-in routes, then the routes file's, then ``GENHOOK_ROUTES``; a route
    file or setting that cannot work stops the start, named (a ConfigurationError)."""
    path = settings.resolved_routes_file
    return load_routes(
        path if path.exists() or settings.routes_file is not None else None,
        settings.routes,
        providers=PROVIDERS,
        extra_source="GENHOOK_ROUTES",
    )


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Open the database (migrating embedded SQLite) and everything built on it.

    A PostgreSQL schema behind the code is refused with :class:`MigrationRequiredError`:
    several processes share it, so only ``genhook db upgrade`` (the Procfile
    ``release`` step) migrates it.
    """
    try:
        db = settings.db
        engine = create_engine(
            settings.resolved_database_url,
            timeouts=Timeouts(
                connect=db.connect_timeout_seconds,
                command=db.command_timeout_seconds,
                statement=db.statement_timeout_seconds,
                pool=db.pool_timeout_seconds,
            ),
        )
    except StorageError as exc:
        raise DatabaseSetupError(str(exc)) from exc
    try:
        await _check_schema(engine)
        asset_store = build_asset_store(settings)
        await asset_store.check()  # a store that cannot be used stops the start, named
        wakeups = Wakeups()
        peers = LocalPeers(Path(engine.url.database or "")) if is_sqlite(engine) else None

        def committed(topics: Iterable[str]) -> None:
            wakeups.notify(topics)
            if peers is not None:
                peers.send(topics)

        sessions = create_session_factory(engine, on_commit=committed)
        ledger = build_ledger(settings)
        routes = build_routes(settings)
        writer: BatchWriter
        if is_sqlite(engine):
            thread = SqliteWriterThread(engine)
            writer = SqliteThreadWriter(thread, committed, ledger)
        else:
            thread, writer = None, SessionWriter(sessions, ledger)
        ingestor = Ingestor(writer, write_timeout=settings.db.write_timeout_seconds)
        stream = EventStream(sessions, settings.events, wakeups)
        webhook_http = netguard.guarded_client(
            allow_private=settings.delivery.allow_private_targets,
            allow_hint=DELIVERY_ALLOW_HINT,
            timeout=OUTBOUND_TIMEOUT,
        )
        asset_http = netguard.guarded_client(
            allow_private=settings.assets.allow_private,
            allow_hint="set GENHOOK_ASSETS_ALLOW_PRIVATE=true to allow it",
            timeout=OUTBOUND_TIMEOUT,
        )
        async with (
            httpx.AsyncClient(timeout=PROVIDER_TIMEOUT) as http,
            webhook_http,
            asset_http,
            _listening(engine, settings, wakeups, peers),
        ):
            adapters = build_adapters(settings, http)
            try:
                yield Services(
                    settings=settings,
                    engine=engine,
                    sessions=sessions,
                    http=http,
                    webhook_http=webhook_http,
                    asset_http=asset_http,
                    adapters=adapters,
                    callback_adapters={
                        name: adapter
                        for name, adapter in adapters.items()
                        if isinstance(adapter, CallbackAdapter) and adapter.has_callbacks
                    },
                    callback_urls=CallbackUrls(
                        CallbackTokens(load_service_secret(settings)), settings.resolved_public_url
                    ),
                    ingestor=ingestor,
                    asset_store=asset_store,
                    subscribers=Subscribers(sessions, settings.delivery),
                    deliveries=Deliveries(sessions),
                    stream=stream,
                    wakeups=wakeups,
                    jobs=JobBoard(),
                    exposition=Exposition(sessions, cache_seconds=settings.metrics.cache_seconds),
                    routes=routes,
                    ledger=ledger,
                    pressure=ProviderPressure(
                        failures_to_open=settings.circuit.failures,
                        base_cooldown=settings.circuit.cooldown_seconds,
                        max_cooldown=settings.circuit.max_cooldown_seconds,
                    ),
                )
            finally:
                await ingestor.aclose()
                await stream.aclose()
                if thread is not None:
                    await thread.aclose()
    finally:
        await engine.dispose()


async def check_asset_store(settings: Settings) -> None:
    """The asset store's start-up probe on its own (``genhook serve`` runs it before
    the server starts, so a bad bucket is one clear line, not a lifespan traceback)."""
    await build_asset_store(settings).check()


def build_asset_store(settings: Settings) -> AssetStore:
    """The local disk (embedded default), or the S3 bucket of ``GENHOOK_ASSETS_STORE``
    (downloads are staged in the assets dir, which then need not be shared)."""
    if settings.assets.s3_location is None:
        return LocalAssetStore(settings.resolved_assets_dir)
    from receiver.assets.s3 import S3AssetStore  # obstore loads only where it is used

    return S3AssetStore.from_settings(settings.assets, settings.resolved_assets_dir / ".staging")


@contextlib.asynccontextmanager
async def _listening(
    engine: AsyncEngine, settings: Settings, wakeups: Wakeups, peers: LocalPeers | None
) -> AsyncIterator[None]:
    """Hear other processes' commits for as long as the services live: LISTEN on
    PostgreSQL, the peers' datagrams on SQLite."""
    if peers is not None:
        peers.open(wakeups.notify)
        try:
            yield
        finally:
            peers.close()
        return
    listener = asyncio.create_task(
        listen(settings.resolved_database_url, wakeups.notify, [t.value for t in Topic]),
        name="genhook-listen",
    )
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _check_schema(engine: AsyncEngine) -> None:
    if is_sqlite(engine):
        await upgrade(engine)
    elif missing := await pending_revisions(engine):
        oldest_first = ", ".join(reversed(missing))
        raise MigrationRequiredError(
            f"database schema lacks revisions {oldest_first}: run `genhook db upgrade`"
        )
