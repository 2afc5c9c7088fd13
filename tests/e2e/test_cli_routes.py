"""``genhook routes``, ``submit --route``, ``status --attempts`` and ``usage`` in
process (typer's runner, the same code as the executable) against a real server
wired to the simulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from receiver.cli.runner import EXIT_USAGE
from tests.conftest import make_settings
from tests.support.cli import cli_runner, invoke
from tests.support.simulated import Simulated, simulated_genhook


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[Simulated]:
    settings = make_settings(
        tmp_path,
        database_url,
        run_background=True,
        poll_tick_seconds=0.1,
        events_poll_seconds=0.05,
        apimall_poll_first=(0.1, 0.2),
        apimall_poll_interval=(0.1, 0.2),
    )
    async with simulated_genhook(settings) as simulated:
        yield simulated


@pytest.fixture
def runner(world: Simulated, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return cli_runner(monkeypatch, world.genhook.base_url, world.genhook.token)


async def test_routes_lists_the_built_in_routes(runner: CliRunner) -> None:
    code, out, err = await invoke(runner, "routes")
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("nano-banana "))
    assert "apimall/nano-banana → apimodels/gemini-2.5-flash-image → apimart/" in line
    code, out, _ = await invoke(runner, "routes", "--json")
    names = [route["name"] for route in json.loads(out)["routes"]]
    assert code == 0 and {"nano-banana", "nano-banana-pro"} <= set(names)


async def test_submit_to_a_route_then_its_attempts_and_usage(runner: CliRunner) -> None:
    code, out, err = await invoke(
        runner, "submit", "--route", "nano-banana", "--prompt", "a fox", "--wait", "--timeout", "30"
    )
    assert code == 0, err
    task = json.loads(out)
    assert task["status"] == "completed"
    code, out, err = await invoke(runner, "status", task["id"], "--attempts")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split()[:2] == ["#", "target"]
    assert len(rows) == 1 and rows[0].split()[:2] == ["1", "apimall/nano-banana"]
    assert "completed" in rows[0]
    code, out, err = await invoke(runner, "tasks")
    assert code == 0, err
    header, line = out.splitlines()
    assert header.split()[:5] == ["id", "provider", "model", "route", "status"]
    assert line.split()[:5] == [task["id"], "apimall", "nano-banana", "nano-banana", "completed"]
    code, out, err = await invoke(runner, "usage", "--json")
    assert code == 0, err
    assert [r["key"] for r in json.loads(out)["rows"]] == ["apimall"]
    code, out, err = await invoke(runner, "usage", "--group-by", "model")
    assert code == 0, err
    assert "apimall/nano-banana" in out


async def test_a_route_and_a_provider_together_is_bad_usage(runner: CliRunner) -> None:
    code, _, err = await invoke(
        runner, "submit", "apimall", "--route", "nano-banana", "--prompt", "a fox"
    )
    assert code == EXIT_USAGE and "not both" in err
