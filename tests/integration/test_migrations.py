"""Migrations and models agree, and a schema behind the code is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from receiver.errors import MigrationRequiredError
from receiver.services import open_services
from storage.engine import create_engine
from storage.errors import UnsupportedDatabaseError
from storage.migrate import pending_revisions, upgrade
from tests.conftest import make_settings
from tests.support import database


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        assert await pending_revisions(engine) == []

        def diff(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_sqlite_is_durable_by_configuration(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "foreign_keys": 1,
        "busy_timeout": 10_000,
    }


def test_unsupported_urls_are_refused_clearly() -> None:
    for url in ("mysql+aiomysql://x/y", "sqlite+aiosqlite:///:memory:", "postgresql://x/y"):
        with pytest.raises(UnsupportedDatabaseError):
            create_engine(url)


@pytest.mark.postgres
async def test_postgres_behind_the_code_is_refused(tmp_path: Path) -> None:
    admin_url = database.postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{database.POSTGRES_ENV} not set")
    url = await asyncio.to_thread(database.create_postgres_database, admin_url)
    try:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DELETE FROM alembic_version")
        await engine.dispose()
        with pytest.raises(MigrationRequiredError, match="genhook db upgrade") as refused:
            async with open_services(make_settings(tmp_path, url)):
                pass
        # oldest first, the order `db upgrade` applies them in
        engine = create_engine(url)
        oldest_first = ", ".join(reversed(await pending_revisions(engine)))
        await engine.dispose()
        assert "lacks revisions 0001, 0002, " in str(refused.value)
        assert oldest_first in str(refused.value)
    finally:
        await asyncio.to_thread(database.drop_postgres_database, admin_url, url)


async def test_pending_revisions_lists_what_a_database_lacks(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        everything = await pending_revisions(engine)
        assert everything[-1] == "0001" and len(everything) >= 3  # newest first
        await upgrade(engine, "0001")
        assert await pending_revisions(engine) == everything[:-1]
        await upgrade(engine)
        assert await pending_revisions(engine) == []
    finally:
        await engine.dispose()
