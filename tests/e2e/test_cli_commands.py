"""The CLI commands the README lists that no other test runs.

In-process (typer's runner, the same code as the executable, without a process start
per assertion) against a real server wired to the simulator: ``providers``,
``submit --param KEY=VALUE`` parsing, ``track``, ``tasks`` with ``--status``,
``--provider``, ``--limit`` and ``--stuck``, and ``watch --download``'s file names and
its exit code 4. As real processes: ``db upgrade``, and ``serve --no-background`` next
to a ``genhook worker``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from receiver.cli.runner import EXIT_DOWNLOAD_FAILED, EXIT_USAGE
from tests.conftest import make_settings
from tests.fixtures.apimodels import callback_body
from tests.support.callbacks import completed_receiver_task, new_callback_path
from tests.support.cdn import PNG, Cdn
from tests.support.cli import cli_runner, invoke
from tests.support.process import (
    free_port,
    genhook_env,
    genhook_process,
    run_cli,
)
from tests.support.simulated import MODELS, SIM_KEY, Simulated, simulated_genhook
from tests.support.waiting import eventually_blocking


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[Simulated]:
    settings = make_settings(tmp_path, database_url, stuck_after_seconds=0.01)
    async with simulated_genhook(settings) as simulated:
        yield simulated


@pytest.fixture
def runner(world: Simulated, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return cli_runner(monkeypatch, world.genhook.base_url, world.genhook.token)


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_providers_prints_the_catalog(runner: CliRunner) -> None:
    code, out, err = await invoke(runner, "providers")
    assert code == 0, err
    printed = json.loads(out)
    assert set(printed) == {"apimodels", "apimall", "apimart"}
    # what the README's "Providers, models and parameters" says of each gateway
    assert {p: v["callbacks"] for p, v in printed.items()} == {
        "apimodels": True,
        "apimall": False,
        "apimart": False,
    }
    gpt = next(m for m in printed["apimart"]["models"] if m["name"] == "gpt-image-2")
    assert [p["name"] for p in gpt["params"]] == ["prompt", "n", "size", "image_urls"]
    for provider, model in MODELS.items():
        assert model in [m["name"] for m in printed[provider]["models"]]


async def test_param_values_are_json_when_they_parse_else_text(
    runner: CliRunner, world: Simulated
) -> None:
    code, out, err = await invoke(
        runner,
        "submit",
        "apimall",
        "--model",
        "nano-banana",
        "--prompt",
        "a fox",
        "--param",
        "num_images=2",
        "--param",
        "google_search=true",
        "--param",
        "aspect_ratio=16:9",
        "--param",
        "note=a=b",  # only the first '=' splits
    )
    assert code == 0, err
    task_id = json.loads(out)["id"]
    detail = (await world.genhook.client.get(f"/api/tasks/{task_id}")).json()
    assert detail["request"]["params"] == {
        "num_images": 2,
        "google_search": True,
        "aspect_ratio": "16:9",
        "note": "a=b",
    }
    code, _, err = await invoke(
        runner, "submit", "apimall", "--model", "nano-banana", "--prompt", "p", "--param", "oops"
    )
    assert code == EXIT_USAGE == 2, err
    assert "KEY=VALUE" in " ".join(err.split())
    listed = (await world.genhook.client.get("/api/tasks")).json()["tasks"]
    assert [t["id"] for t in listed] == [task_id]  # the bad one sent nothing


async def test_track_adopts_a_task_made_elsewhere(runner: CliRunner, world: Simulated) -> None:
    created = await world.genhook.services.http.post(
        f"{world.sim_url}/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": "made elsewhere"},
        headers={"Authorization": f"Bearer {SIM_KEY}"},
    )
    provider_task_id = created.json()["data"][0]["task_id"]
    code, out, err = await invoke(runner, "track", "apimart", provider_task_id)
    assert code == 0, err
    task = json.loads(out)
    assert (task["origin"], task["provider_task_id"]) == ("track", provider_task_id)
    code, _, err = await invoke(runner, "track", "apimart", provider_task_id)
    assert code == 1 and "genhook already has a task" in err
    code, _, err = await invoke(runner, "track", "apimart", "task_nobody_made")
    assert code == 1 and "does not know task" in err


async def test_tasks_filters_by_status_provider_and_limit(
    runner: CliRunner, world: Simulated
) -> None:
    ids: dict[str, list[str]] = {}
    for provider, prompt in (("apimall", "ok"), ("apimart", "ok"), ("apimall", "x [sim:blocked]")):
        code, out, err = await invoke(
            runner, "submit", provider, "--model", MODELS[provider], "--prompt", prompt
        )
        ids.setdefault(provider, []).append(json.loads(out)["id"])
    mall_ok, mall_refused = ids["apimall"]
    (mart,) = ids["apimart"]

    async def listed(*args: str) -> list[str]:
        code, out, err = await invoke(runner, "tasks", *args, "--json")
        assert code == 0, err
        return [str(row["id"]) for row in lines(out)]

    assert await listed() == [mall_refused, mart, mall_ok]
    assert await listed("--provider", "apimall") == [mall_refused, mall_ok]
    assert await listed("--status", "failed") == [mall_refused]
    assert await listed("--status", "pending", "--provider", "apimart") == [mart]
    assert await listed("--limit", "1") == [mall_refused]
    stuck = await listed("--stuck")  # stuck_after_seconds is tiny: every unfinished one
    assert set(stuck) == {mall_ok, mart}
    code, out, _ = await invoke(runner, "tasks", "--stuck", "--json")
    assert all(row["stuck_reason"] for row in lines(out))
    code, _, err = await invoke(runner, "tasks", "--status", "bogus")
    assert code == 1 and "status" in err


async def test_watch_downloads_named_images_and_exits_4_when_one_cannot_be_had(
    runner: CliRunner, world: Simulated, cdn: Cdn, tmp_path: Path
) -> None:
    good = await completed_receiver_task(world.genhook, [f"{cdn.url}/png", f"{cdn.url}/png?2"])
    into = tmp_path / "images"
    code, _, err = await invoke(runner, "watch", good, "--download", str(into))
    assert code == 0, err
    assert sorted(p.name for p in into.iterdir()) == [f"{good}-1.png", f"{good}-2.png"]
    assert (into / f"{good}-2.png").read_bytes() == PNG

    task_id, path = await new_callback_path(world.genhook)
    body = callback_body(
        task_id=f"p-{task_id}",
        result_json=json.dumps({"resultUrls": [f"{cdn.url}/png", f"{cdn.url}/status-404"]}),
    )
    assert (await world.genhook.client.post(path, content=body)).status_code == 200
    code, out, err = await invoke(runner, "watch", task_id, "--download", str(into))
    assert code == EXIT_DOWNLOAD_FAILED == 4
    assert "download failed" in err
    assert "completed" in out
    assert not list(into.glob("*.part"))  # nothing half-written is left


def test_db_upgrade_migrates_a_fresh_database_and_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    env = genhook_env(tmp_path / "data", f"sqlite+aiosqlite:///{db}", free_port())
    for _ in range(2):
        done = run_cli(env, "db", "upgrade")
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"tasks", "snapshots", "outbox", "deliveries", "assets", "workers"} <= tables
    assert version


def test_serve_without_background_leaves_the_jobs_to_a_worker(tmp_path: Path) -> None:
    """The Procfile split. The engine does not matter to which process runs the jobs
    (both engines run web and worker processes in tests/e2e/test_wakeups_across_processes),
    so this runs once, on SQLite: two process starts are the cost."""
    env = genhook_env(
        tmp_path / "data",
        f"sqlite+aiosqlite:///{tmp_path / 'split.db'}",
        free_port(),
        GENHOOK_API_TOKEN="cli-test-token",
        GENHOOK_SECRET="cli-test-secret-0123456789",
        GENHOOK_HEALTH_HEARTBEAT_SECONDS="0.2",
    )
    base = env["GENHOOK_PUBLIC_URL"]
    auth = {"Authorization": "Bearer cli-test-token"}

    def workers() -> list[dict[str, object]]:
        listed: list[dict[str, object]] = httpx.get(f"{base}/api/workers", headers=auth).json()[
            "workers"
        ]
        return listed

    with genhook_process(["serve", "--no-background"], env, tmp_path / "serve.log", base):
        assert workers() == []  # a web-only process runs no background job
        metrics_port = free_port()
        with genhook_process(
            ["worker", "--metrics-port", str(metrics_port)],
            env,
            tmp_path / "worker.log",
            f"http://127.0.0.1:{metrics_port}",
        ):
            (worker,) = eventually_blocking(workers, within=20, what="the worker's heartbeat")
            assert worker["kind"] == "worker"
            names = {job["name"] for job in worker["jobs"]}  # type: ignore[attr-defined]
            assert {"poll", "dispatch", "mirror", "reconcile"} <= names
