"""Shared fixtures: settings on a real database, and a real running server."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.settings import Settings
from tests.support import database
from tests.support.cdn import Cdn, running_cdn
from tests.support.harness import Harness, running_genhook
from tests.support.s3 import S3Server, running_s3

TEST_SECRET = "test-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin_url = database.postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{database.POSTGRES_ENV} not set")
    test_url = database.create_postgres_database(admin_url)
    yield test_url
    database.drop_postgres_database(admin_url, test_url)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One real S3 server on loopback for the session (``tests.support.s3``); each test
    makes its own bucket."""
    with running_s3(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head, copied for each test: migrating a fresh file
    takes half a second, copying it a millisecond. (Migrating a fresh file at start is
    held by the tests that make their own, and by every ``genhook serve`` process test.)"""
    return database.migrated_sqlite(tmp_path_factory.mktemp("sqlite-template") / "genhook.db")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database at the schema's head: a SQLite file of the test's own, or the
    session's PostgreSQL database truncated."""
    if request.param == "sqlite":
        path = tmp_path / "genhook.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    database.truncate_postgres(url)
    return url


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret": TEST_SECRET,
        "public_url": "http://127.0.0.1:9",
        # Tests drive background passes (poll_once, ...) themselves, deterministically.
        "run_background": False,
        **overrides,
    }
    return Settings(_env_file=None, **values)


class FakeClock:
    """Stands in for ``receiver.clock.utcnow``; time moves only when a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def fake_clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Patched clock; it starts at the module's ``CLOCK_START`` if it sets one."""
    start = getattr(request.module, "CLOCK_START", None)
    fake = FakeClock(start or datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr("receiver.clock.utcnow", fake)
    return fake


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def genhook(settings: Settings) -> AsyncIterator[Harness]:
    async with running_genhook(settings) as harness:
        yield harness


@pytest.fixture
async def cdn() -> AsyncIterator[Cdn]:
    """A misbehaving result-image host on loopback (``tests.support.cdn``)."""
    async with running_cdn() as running:
        yield running
