"""Async engine and session factory for SQLite (embedded) and PostgreSQL (scale-out).

SQLite is configured for durability first, because genhook acknowledges a callback
only after its commit: WAL (readers never block the writer), ``synchronous=FULL``
(a commit survives power loss, not just a process crash), a busy timeout (other
processes' writers are waited for, not failed), and foreign keys on.

SQLAlchemy, not the ``sqlite3`` module, emits ``BEGIN``: by default ``BEGIN
IMMEDIATE``, so a transaction that reads then writes takes the write lock up front
instead of failing with "database is locked" when it tries to upgrade. Read-only
work opts out with :data:`READ_ONLY` and runs as a plain deferred transaction.

Writers of one process also queue on an ``asyncio.Lock`` before ``BEGIN
IMMEDIATE``. SQLite's own busy handler waits by *sleeping* in growing steps, so a
handful of coroutines contending for the write lock on pooled connections would
spend most of their time asleep (measured: 33 callbacks/s). With the lock they wait
their turn in the event loop and only other processes meet the busy handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.errors import UnsupportedDatabaseError
from storage.wakeups import ON_COMMIT, OnTopics, WakingSession

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Execution option a session passes to begin a deferred (read-only) SQLite transaction.
READ_ONLY: dict[str, Any] = {"genhook_read_only": True}

SessionFactory = async_sessionmaker[AsyncSession]


def decode_json(text: str | bytes) -> Any:
    """orjson's reading, or the json module's for what orjson refuses.

    A database written before values were fitted may hold ``Infinity`` or ``NaN``
    (the json module wrote them); orjson refuses them, and one such row would fail
    every query that reads it, so it is read the slow way, and fitted downstream.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


# JSON columns (event payloads above all) encoded by orjson, several times faster
# than the json module; text out, as both drivers expect.
JSON_CODEC: dict[str, Any] = {
    "json_serializer": lambda value: orjson.dumps(value).decode(),
    "json_deserializer": decode_json,
}
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long to wait for PostgreSQL before failing (seconds). The service passes
    short ones so a database that hangs is an error in seconds, not minutes; the
    migrations (``genhook db upgrade``) run without, as long statements are theirs.
    """

    connect: float
    command: float  # the client's wait for one statement (a host that stopped answering)
    statement: float  # the server's statement_timeout
    pool: float  # waiting for a free pooled connection


def create_engine(url: str, *, echo: bool = False, timeouts: Timeouts | None = None) -> AsyncEngine:
    """Build the engine for ``url``; only ``sqlite+aiosqlite`` and ``postgresql+asyncpg``."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        return _sqlite_engine(url, parsed.database, echo=echo)
    if parsed.drivername == "postgresql+asyncpg":
        options: dict[str, Any] = {}
        if timeouts is not None:
            options = {
                "pool_timeout": timeouts.pool,
                "connect_args": {
                    "timeout": timeouts.connect,
                    "command_timeout": timeouts.command,
                    "server_settings": {
                        "statement_timeout": str(round(timeouts.statement * 1000)),
                        # a transaction left open by a stalled client is ended too
                        "idle_in_transaction_session_timeout": str(
                            round(max(timeouts.statement, timeouts.command) * 2000)
                        ),
                    },
                },
            }
        return create_async_engine(url, echo=echo, pool_pre_ping=True, **JSON_CODEC, **options)
    raise UnsupportedDatabaseError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
    )


def create_session_factory(
    engine: AsyncEngine, *, on_commit: OnTopics | None = None
) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit (no lazy reloads in async),
    and that call ``on_commit`` with the topics a commit marked (:mod:`storage.wakeups`)."""
    return async_sessionmaker(
        engine,
        class_=AsyncSession,
        sync_session_class=WakingSession,
        expire_on_commit=False,
        info={ON_COMMIT: on_commit} if on_commit is not None else None,
    )


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_engine(url: str, database: str | None, *, echo: bool) -> AsyncEngine:
    if not database or database == ":memory:":
        raise UnsupportedDatabaseError(
            "an in-memory SQLite database cannot be shared by genhook's workers; give a file path"
        )
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, **JSON_CODEC)
    event.listen(engine.sync_engine, "connect", configure_sqlite)
    write_lock = _WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get("genhook_read_only", False):
            connection.exec_driver_sql("BEGIN")
            return
        await_(_acquire(write_lock))
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            write_lock.release()
            raise
        connection.info[_HOLDS_WRITE_LOCK] = True

    def _release(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS_WRITE_LOCK, False):
            write_lock.release()

    @event.listens_for(engine.sync_engine, "commit")
    @event.listens_for(engine.sync_engine, "rollback")
    def _end(connection: Connection) -> None:
        # A connection invalidated mid-statement (e.g. its coroutine was cancelled)
        # cannot show its info here; the pool events below release the lock then.
        with contextlib.suppress(Exception):
            _release(connection.info)

    # The flag lives on the connection record, which these see even after
    # invalidation; invalidate fires before the record's info is cleared.
    @event.listens_for(engine.sync_engine.pool, "invalidate")
    @event.listens_for(engine.sync_engine.pool, "soft_invalidate")
    def _invalidated(_dbapi: Any, record: ConnectionPoolEntry, _exc: Any) -> None:
        _release(record.info)

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _checked_in(_dbapi: Any, record: ConnectionPoolEntry) -> None:
        _release(record.info)

    return engine


_HOLDS_WRITE_LOCK = "genhook_holds_write_lock"


def configure_sqlite(dbapi_connection: Any, _record: Any = None) -> None:
    """Every SQLite connection genhook opens: WAL, full sync, busy timeout, foreign keys."""
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys=ON",
    ):
        cursor.execute(pragma)
    cursor.close()


def sqlite_write_lock(engine: AsyncEngine) -> asyncio.Lock:
    """The lock this process's writers to ``engine``'s SQLite file queue on."""
    return _WRITE_LOCKS[engine.sync_engine]


async def _acquire(lock: asyncio.Lock) -> None:
    """Wait for this process's SQLite write turn, as long as SQLite itself would."""
    try:
        await asyncio.wait_for(lock.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000)
    except TimeoutError:
        cause = sqlite3.OperationalError("database is locked (by a writer in this process)")
        raise OperationalError("BEGIN IMMEDIATE", None, cause) from None
