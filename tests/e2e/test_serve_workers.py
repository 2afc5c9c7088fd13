"""``genhook serve --workers 2`` on PostgreSQL: two web processes on one port, each
answering callbacks (counted per process in the shared Prometheus directory) and
each running its background jobs; SIGTERM stops them all with exit 0. On SQLite
(one writer process) the command is refused with a clear message."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.support import database
from tests.support.fleet import AUTH, TOKEN, clean_log, start_web
from tests.support.process import free_port, genhook_env, run_cli
from tests.support.waiting import eventually

APPLIED = "genhook_callbacks_received_total"


def applied_per_process(shared: Path) -> dict[str, float]:
    """Applied callbacks counted by each process (``counter_<pid>.db``)."""
    counts: dict[str, float] = {}
    for path in shared.glob("counter_*.db"):
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, _ = json.loads(key)
            if name == APPLIED and labels.get("outcome") == "applied":
                counts[path.stem] = counts.get(path.stem, 0) + value
    return counts


@pytest.fixture
def pg(postgres_url: str) -> str:
    database.truncate_postgres(postgres_url)
    return postgres_url


@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_two_workers_on_postgres_share_the_port_and_both_answer(
    tmp_path: Path, pg: str
) -> None:
    postgres_url = pg
    shared = tmp_path / "prometheus"
    shared.mkdir()
    port = free_port()
    env = genhook_env(
        tmp_path / "data",
        postgres_url,
        port,
        GENHOOK_SECRET="workers-test-secret-0123456789",
        GENHOOK_API_TOKEN=TOKEN,
        GENHOOK_HEALTH_HEARTBEAT_SECONDS="0.5",
        PROMETHEUS_MULTIPROC_DIR=str(shared),
    )
    web = await asyncio.to_thread(start_web, "web", env, tmp_path, port, "--workers", "2")
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30
        ) as client:

            async def both_run_jobs() -> bool:
                listed = (await client.get("/api/workers")).json()["workers"]
                return len([w for w in listed if w["kind"] == "serve"]) == 2

            await eventually(both_run_jobs, within=20, every=0.2)
            paths = []
            for _ in range(60):
                created = (
                    await client.post("/api/callback-urls", json={"provider": "apimodels"})
                ).json()
                paths.append((created["task_id"], created["callback_url"].rsplit("/", 1)[1]))

        async def one(task_id: str, token: str) -> int:
            from tests.fixtures.apimodels import callback_body

            # a connection of its own, so the kernel hands it to either process
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as fresh:
                body = callback_body(task_id=f"p-{task_id}", result_json='{"resultUrls": []}')
                return (await fresh.post(f"/callbacks/apimodels/{token}", content=body)).status_code

        for start in range(0, len(paths), 10):
            answers = await asyncio.gather(*(one(*p) for p in paths[start : start + 10]))
            assert answers == [200] * len(answers)
        code, seconds = await asyncio.to_thread(web.stop, signal.SIGTERM)
    finally:
        web.ensure_stopped()

    per_process = applied_per_process(shared)
    assert sum(per_process.values()) == 60
    assert len([n for n in per_process.values() if n > 0]) == 2, per_process
    assert code == 0 and seconds < 15, (code, seconds)
    assert clean_log(web.text()) == [], web.text()


def test_workers_are_refused_on_sqlite_with_the_reason(tmp_path: Path) -> None:
    env = genhook_env(tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", free_port())
    result = run_cli(env, "serve", "--workers", "2")
    assert result.returncode == 2
    assert "--workers 2 needs PostgreSQL: SQLite has one writer process" in result.stderr
