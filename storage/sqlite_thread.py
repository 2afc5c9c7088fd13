"""A dedicated writer thread with its own SQLite connection.

aiosqlite runs every statement of a transaction as a round trip to its thread;
this runs a whole transaction (BEGIN IMMEDIATE, the statements, COMMIT) in one
hop to a thread that owns one connection, configured like every genhook SQLite
connection. It queues on the same in-process write lock as the async engine's
writers, so the two never meet in SQLite's busy handler (which waits by
sleeping). Used by the ingest path, the hottest writer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from storage.engine import JSON_CODEC, configure_sqlite, sqlite_write_lock

T = TypeVar("T")


class SqliteWriterThread:
    def __init__(self, engine: AsyncEngine) -> None:
        self._lock = sqlite_write_lock(engine)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genhook-sqlite")
        self._engine = create_engine(
            engine.url.set(drivername="sqlite"),
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            **JSON_CODEC,
        )
        event.listen(self._engine, "connect", configure_sqlite)
        event.listen(self._engine, "begin", _begin_immediate)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction on the writer's connection, committed."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._transaction, work)

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            return work(connection)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown(wait=True)


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
