"""``scripts/chaos`` at small scale: the same three runs, real processes, both engines.

Fails on any lost callback, any task with more than one terminal event id, any
event that never reached the subscriber, any rejected signature, any 5xx and any
traceback in genhook's log (see ``scripts/trust`` for what each run does). The
three run at the same time, each on its own database: most of their time is
waiting (for a deadline, for a killed dispatcher's leases to run out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.trust import chaos, crash, fuzz
from tests.support import database

pytestmark = pytest.mark.timeout(300)
SECTIONS = ("chaos", "crash", "fuzz")


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[list[str]]:
    admin_url = database.postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{database.POSTGRES_ENV} not set")
    urls = [database.create_postgres_database(admin_url) for _ in SECTIONS]
    yield urls
    for url in urls:
        database.drop_postgres_database(admin_url, url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """One empty, migrated database per section."""
    if request.param == "sqlite":
        return {name: f"sqlite+aiosqlite:///{tmp_path / name / 'genhook.db'}" for name in SECTIONS}
    urls: list[str] = request.getfixturevalue("postgres_databases")
    for url in urls:
        database.truncate_postgres(url)
    return dict(zip(SECTIONS, urls, strict=True))


async def test_chaos_crash_and_fuzz_lose_nothing_and_answer_no_5xx(
    tmp_path: Path, databases: dict[str, str]
) -> None:
    for name in SECTIONS:
        (tmp_path / name).mkdir(exist_ok=True)
    chaotic, crashed, fuzzed = await asyncio.gather(
        chaos.run(databases["chaos"], tmp_path / "chaos", chaos.SMALL),
        crash.run(databases["crash"], tmp_path / "crash", crash.SMALL),
        fuzz.run(databases["fuzz"], tmp_path / "fuzz", fuzz.SMALL),
    )

    # chaos: every task ends in its right state, with one terminal event id
    assert chaotic.wrong == []
    assert chaotic.unsettled == 0
    assert chaotic.right == chaotic.tasks == 3 * chaos.SMALL.tasks_per_gateway
    assert chaotic.one_terminal_event == chaotic.tasks
    assert (chaotic.duplicate_terminal, chaotic.received_duplicate_terminal) == (0, 0)
    assert chaotic.events > chaotic.tasks and chaotic.events_missing == 0
    assert chaotic.rejected_signatures == 0
    assert (chaotic.server_5xx, chaotic.tracebacks) == (0, 0)

    # crash: kill -9 three times, nothing acknowledged is lost, every event arrives
    assert crashed.rounds == 3
    assert crashed.acknowledged >= 3 * crash.SMALL.kill_after
    assert crashed.lost == []
    assert any(crashed.pending_at_restart), "deliveries were in flight at a kill"
    assert crashed.events_missing == 0 and crashed.undrained == 0
    assert (crashed.duplicate_terminal, crashed.received_duplicate_terminal) == (0, 0)
    assert crashed.tracebacks == 0

    # fuzz: no 5xx, no traceback, the unreadable kept and answered 200
    assert fuzzed.callback_requests >= fuzz.SMALL.callback_requests
    assert fuzzed.admin_requests > 0
    assert fuzzed.examples_5xx == [] and fuzzed.server_5xx == 0
    assert fuzzed.tracebacks == 0
    assert fuzzed.outcomes["quarantined"] > 0 and fuzzed.outcomes["applied"] > 0

    assert chaotic.ok and crashed.ok and fuzzed.ok
