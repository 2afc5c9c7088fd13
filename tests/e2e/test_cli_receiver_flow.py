"""The CLI as a person on another shell uses it: its environment holds only
``GENHOOK_URL`` and the token (no database URL, no provider keys), and every task
command goes to a real ``genhook serve`` over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx

from tests.fixtures.apimodels import DOC_CALLBACK, DOC_RESULT_URL
from tests.support.process import (
    GENHOOK,
    free_port,
    genhook_env,
    genhook_server,
    run_cli,
    shell_env,
)


def test_callback_url_then_callback_then_status(tmp_path: Path, database_url: str) -> None:
    env = genhook_env(tmp_path / "data", database_url, free_port())
    with genhook_server(env, tmp_path / "serve.log"):
        shell = shell_env(env)
        assert not any(
            k.startswith("GENHOOK_") and k not in ("GENHOOK_URL", "GENHOOK_API_TOKEN")
            for k in shell
        )
        created = run_cli(shell, "callback-url", "apimodels", cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        info = json.loads(created.stdout)
        assert info["callback_url"].startswith(env["GENHOOK_PUBLIC_URL"] + "/callbacks/apimodels/")

        response = httpx.post(info["callback_url"], content=DOC_CALLBACK, timeout=10)
        assert response.status_code == 200
        assert response.json()["status"] == "applied"

        status = run_cli(shell, "status", info["task_id"], cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        task = json.loads(status.stdout)
        assert task["status"] == "completed"
        assert task["result_urls"] == [DOC_RESULT_URL]
        assert task["model"] == "gemini-3-pro-image-lite"  # learned from the callback

        listing = run_cli(shell, "tasks", "--output", "json", cwd=tmp_path)
        assert [json.loads(line)["id"] for line in listing.stdout.splitlines()] == [info["task_id"]]
        table = run_cli(shell, "tasks", cwd=tmp_path)
        assert info["task_id"] in table.stdout  # whole, never cut


def test_cli_errors_are_clear(tmp_path: Path, database_url: str) -> None:
    env = genhook_env(tmp_path / "data", database_url, free_port())
    with genhook_server(env, tmp_path / "serve.log"):
        shell = shell_env(env)
        missing = run_cli(shell, "status", "tsk_nope", cwd=tmp_path)
        assert missing.returncode == 5  # not found (issue 14: one table of exit codes)
        assert "no task with id 'tsk_nope'" in missing.stderr
        no_callbacks = run_cli(shell, "callback-url", "apimart", cwd=tmp_path)
        assert no_callbacks.returncode == 1
        assert "sends no callbacks" in no_callbacks.stderr
        stranger = run_cli({**shell, "GENHOOK_API_TOKEN": "wrong"}, "tasks", cwd=tmp_path)
        assert stranger.returncode == 7 and "GENHOOK_API_TOKEN" in stranger.stderr
        usage = run_cli(shell, "tasks", "settle", "tsk_x", cwd=tmp_path)
        assert usage.returncode == 2 and "exactly one of --failed and --resubmit" in usage.stderr
    gone = run_cli(shell, "status", "tsk_nope", cwd=tmp_path)
    assert gone.returncode == 6
    (line,) = gone.stderr.strip().splitlines()  # one line, naming the URL and the way out
    assert shell["GENHOOK_URL"] in line and "genhook serve" in line
    assert gone.stdout == ""


def test_a_cli_on_this_machine_finds_the_generated_token(tmp_path: Path, database_url: str) -> None:
    """No GENHOOK_API_TOKEN anywhere: serve generates one into its data dir and
    prints a login link with it; a CLI in the same directory reads the file.
    (Issue 14 replaced the loopback-only mode, which used to need no token, and the
    refusal to bind a public address without one.)"""
    port = free_port()
    env = genhook_env(tmp_path / ".genhook", database_url, port)
    log = tmp_path / "serve.log"
    with genhook_server(env, log):
        token = (tmp_path / ".genhook" / "api-token").read_text()
        assert f"http://127.0.0.1:{port}/login?token={token}" in log.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/api/tasks").status_code == 401
        local = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
        local["GENHOOK_PORT"] = str(port)  # the URL follows it, as serve's does
        listed = run_cli(local, "tasks", "--output", "json", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr


def test_callback_urls_follow_the_bound_port_without_a_public_url(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    env = genhook_env(tmp_path / "data", database_url, free_port())
    del env["GENHOOK_PUBLIC_URL"], env["GENHOOK_PORT"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [GENHOOK, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        from tests.support.process import wait_healthy

        wait_healthy(f"http://127.0.0.1:{port}", server, log)
        shell = {**shell_env({**env, "GENHOOK_PORT": str(port)})}
        created = run_cli(shell, "callback-url", "apimodels", cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        url = json.loads(created.stdout)["callback_url"]
        assert re.match(rf"http://127\.0\.0\.1:{port}/callbacks/apimodels/", url), url
    finally:
        server.terminate()
        server.wait(timeout=10)
