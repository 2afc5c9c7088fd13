"""Test databases: a SQLite file per test (a copy of one migrated per session), one
PostgreSQL database per session.

PostgreSQL runs when ``GENHOOK_TEST_POSTGRES_URL`` is set (``.ci/run`` always sets
it). If it is set and the server cannot be reached the tests error out: a run that
silently skipped PostgreSQL must never look green.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from storage.engine import create_engine
from storage.migrate import upgrade

POSTGRES_ENV = "GENHOOK_TEST_POSTGRES_URL"
TABLES = (
    "workers",
    "assets",
    "delivery_attempts",
    "deliveries",
    "subscribers",
    "outbox",
    "snapshots",
    "attempts",
    "tasks",
)


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_postgres_database(admin_url: str) -> str:
    """Create and migrate a fresh database next to ``admin_url``'s; return its URL."""
    name = f"genhook_test_{secrets.token_hex(4)}"

    async def main() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=10)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        engine = create_engine(test_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    test_url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(main())
    return test_url


def migrated_sqlite(path: Path) -> Path:
    """Create the SQLite file ``path`` and migrate it to head; return it."""

    async def main() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())
    assert not path.with_name(f"{path.name}-wal").exists()  # all of it is in the file
    return path


def drop_postgres_database(admin_url: str, test_url: str) -> None:
    name = make_url(test_url).database

    async def main() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=10)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(main())


def truncate_postgres(test_url: str) -> None:
    async def main() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(test_url), timeout=10)
        try:
            await connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        finally:
            await connection.close()

    asyncio.run(main())
