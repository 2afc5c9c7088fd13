"""The issue's "done when", through the real executable: serve, callback-url,
a provider callback, and ``genhook status`` showing the completed task."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.fixtures.apimodels import DOC_CALLBACK, DOC_RESULT_URL
from tests.support.process import free_port, genhook_env, genhook_server, run_cli


def test_callback_url_then_callback_then_status(tmp_path: Path, database_url: str) -> None:
    env = genhook_env(tmp_path / "data", database_url, free_port())
    with genhook_server(env, tmp_path / "serve.log"):
        created = run_cli(env, "callback-url", "apimodels")
        assert created.returncode == 0, created.stderr
        info = json.loads(created.stdout)
        assert info["callback_url"].startswith(env["GENHOOK_PUBLIC_URL"] + "/callbacks/apimodels/")

        response = httpx.post(info["callback_url"], content=DOC_CALLBACK, timeout=10)
        assert response.status_code == 200
        assert response.json()["status"] == "applied"

        status = run_cli(env, "status", info["task_id"])
        assert status.returncode == 0, status.stderr
        task = json.loads(status.stdout)
        assert task["status"] == "completed"
        assert task["result_urls"] == [DOC_RESULT_URL]

        listing = run_cli(env, "tasks", "--json")
        assert [json.loads(line)["id"] for line in listing.stdout.splitlines()] == [info["task_id"]]


def test_cli_errors_are_clear(tmp_path: Path, database_url: str) -> None:
    env = genhook_env(tmp_path / "data", database_url, free_port())
    missing = run_cli(env, "status", "tsk_nope")
    assert missing.returncode == 1
    assert "no task with id 'tsk_nope'" in missing.stderr
    no_callbacks = run_cli(env, "callback-url", "apimart")
    assert no_callbacks.returncode == 1
    assert "sends no callbacks" in no_callbacks.stderr


def test_serve_refuses_a_public_bind_without_api_token(tmp_path: Path) -> None:
    env = genhook_env(tmp_path / "d", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", free_port())
    result = run_cli(env, "serve", "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "GENHOOK_API_TOKEN" in result.stderr
