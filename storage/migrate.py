"""Schema migrations, run in-process on an engine genhook already has.

``genhook db upgrade`` and the Procfile ``release`` step call :func:`upgrade`;
``genhook serve`` calls it for the embedded SQLite database so a laptop user never
has to think about migrations. With PostgreSQL, several processes share one
database, so only the release step migrates and the others check
:func:`pending_revisions` and refuse to run against an old schema.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in one transaction."""
    config = alembic_config()

    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def pending_revisions(engine: AsyncEngine) -> list[str]:
    """Revisions the database lacks; empty when it is at head."""
    script = ScriptDirectory.from_config(alembic_config())

    def _current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as connection:
        current = await connection.run_sync(_current)
    return [rev.revision for rev in script.iterate_revisions("heads", tuple(current) or "base")]
