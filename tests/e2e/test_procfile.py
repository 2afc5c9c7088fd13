"""The Procfile deployment on PostgreSQL under callback drops and duplicates: release,
two web processes, two workers, 210 tasks over the three gateways through both web
processes (``scripts/trust/procfile.py``; ``scripts/chaos procfile`` runs 600)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.trust import procfile
from tests.support import database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


@pytest.fixture
def pg(postgres_url: str) -> str:
    database.truncate_postgres(postgres_url)
    return postgres_url


async def test_the_procfile_deployment_ends_every_task_right_under_faults(
    tmp_path: Path, pg: str
) -> None:
    result = await procfile.run(pg, tmp_path, procfile.SMALL)

    assert result.processes == 4
    assert result.tasks == 3 * procfile.SMALL.tasks_per_gateway >= 200
    assert min(result.through_web.values()) >= result.tasks // 2 - 1  # both web processes
    assert result.wrong == [] and result.unsettled == 0
    assert result.right == result.tasks
    assert result.one_terminal_event == result.tasks
    assert (result.duplicate_terminal, result.received_duplicate_terminal) == (0, 0)
    assert result.events > result.tasks and result.events_missing == 0
    assert result.rejected_signatures == 0
    assert result.over_polled == []
    assert (result.server_5xx, result.tracebacks) == (0, 0)
    assert result.wall_seconds < 90, result.wall_seconds
