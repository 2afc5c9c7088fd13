"""Shared fixtures: settings on a real database, and a real running server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver.settings import Settings
from tests.support import database
from tests.support.harness import Harness, running_genhook

TEST_SECRET = "test-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin_url = database.postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{database.POSTGRES_ENV} not set")
    test_url = database.create_postgres_database(admin_url)
    yield test_url
    database.drop_postgres_database(admin_url, test_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}"
    url: str = request.getfixturevalue("postgres_url")
    database.truncate_postgres(url)
    return url


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret": TEST_SECRET,
        "public_url": "http://127.0.0.1:9",
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def genhook(settings: Settings) -> AsyncIterator[Harness]:
    async with running_genhook(settings) as harness:
        yield harness
