"""The per-process SQLite write lock: writers queue, and a lost writer frees it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import delete

from storage.engine import create_engine, create_session_factory, sqlite_write_lock
from storage.migrate import upgrade
from storage.models import OutboxEvent


async def test_an_invalidated_writer_releases_the_write_lock(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        await upgrade(engine)
        sessions = create_session_factory(engine)
        async with sessions() as session:
            await session.begin()
            connection = await session.connection()
            await connection.invalidate()  # as when a cancelled call leaves it unusable
            await session.close()
        lock = sqlite_write_lock(engine)
        assert not lock.locked()  # the invalidated writer gave it back
        started = time.monotonic()
        async with asyncio.timeout(2):  # would wait the full busy timeout if leaked
            async with sessions() as session, session.begin():
                await session.exec(delete(OutboxEvent))
                assert lock.locked()  # the next writer holds it now
        assert time.monotonic() - started < 1
        assert not lock.locked()
    finally:
        await engine.dispose()


async def test_concurrent_writers_take_turns(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        await upgrade(engine)
        sessions = create_session_factory(engine)
        inside = 0
        most = 0

        async def write() -> None:
            nonlocal inside, most
            async with sessions() as session, session.begin():
                await session.exec(delete(OutboxEvent))  # BEGIN happens here
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.01)
                inside -= 1

        async with asyncio.timeout(5):
            await asyncio.gather(*(write() for _ in range(20)))
        assert most == 1  # one write transaction at a time, none failed
    finally:
        await engine.dispose()
