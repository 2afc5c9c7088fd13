"""``scripts/bench`` as tests, marked ``slow``: ``scripts/test -m slow`` runs them.

They reproduce the README's "Performance" figures (each section of
``scripts/benchmarks``, on SQLite and, with ``GENHOOK_TEST_POSTGRES_URL``, on a fresh
PostgreSQL database of their own, since a benchmark drops its database's schema).
Performance is measured, not asserted: a test fails only if its section did not
produce its table, and prints the rows (``-s`` shows them). Sections that drive load
with ``wrk`` are skipped, saying so, where it is not installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from scripts.benchmarks.__main__ import SECTIONS
from tests.support import database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
NEEDS_WRK = ("ingest", "kill-check")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bench_postgres(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite (the benchmark makes its own files), else a fresh database."""
    if request.param == "sqlite":
        yield None
        return
    admin_url = database.postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{database.POSTGRES_ENV} not set")
    url = database.create_postgres_database(admin_url)
    try:
        yield url
    finally:
        database.drop_postgres_database(admin_url, url)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_benchmark_section_produces_its_figures(section: str, bench_postgres: str | None) -> None:
    if section in NEEDS_WRK and shutil.which("wrk") is None:
        pytest.skip(f"scripts/bench {section} needs wrk (apt-get install wrk)")
    rows = SECTIONS[section](bench_postgres)
    assert rows, f"{section} measured nothing"
    for row in rows:
        assert len(row) == 4 and row[0] and row[1], row
        print(" | ".join(row))
