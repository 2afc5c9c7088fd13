"""Issue 5 through the command line, on SQLite and PostgreSQL.

The main flow runs the real ``genhook`` executable next to an in-process genhook
server (dispatcher on) and the provider simulator: ``submit --wait`` (on the event
stream), the provider's callback, the subscriber receives ``task.completed`` with
result URLs, ``watch --download`` saves the images. The CLI's environment holds
only the server's URL and token. The remaining command checks use typer's runner
in-process against a real server: the same code, without a process start per
assertion.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner

from receiver import resources
from receiver.cli.watch import EXIT_TIMED_OUT, exit_code
from receiver.lifecycle import EventType
from tests.conftest import make_settings
from tests.support.cli import cli_runner, invoke
from tests.support.delivery import deliveries, emit, make_task
from tests.support.downstream import Reply, always, downstream
from tests.support.harness import Harness, running_genhook
from tests.support.process import client_env, run_cli
from tests.support.simulated import MODELS, simulated_genhook
from tests.support.waiting import eventually

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli_env(harness: Harness) -> dict[str, str]:
    return client_env(harness.base_url, harness.token)


async def test_subscribe_submit_wait_receive_and_watch(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        run_background=True,
        dispatch_tick_seconds=0.05,
        delivery_allow_private_targets=True,
        stuck_after_seconds=0.01,
    )
    async with downstream() as receiver, simulated_genhook(settings) as world:
        env = cli_env(world.genhook)

        async def cli(*args: str) -> tuple[int, str, str]:
            done = await asyncio.to_thread(run_cli, env, *args)
            return done.returncode, done.stdout, done.stderr

        # (the subscriber commands themselves are tested below, without a process each)
        subscriber = await world.genhook.services.subscribers.add(
            receiver.url(), "task.completed,task.failed"
        )
        secret = subscriber.secret

        code, out, err = await cli(
            "submit",
            "apimodels",
            "--model",
            MODELS["apimodels"],
            "--prompt",
            "a fox",
            "--wait",
            "--timeout",
            "30",
        )
        assert code == 0, (out, err)
        task = json.loads(out)
        assert task["status"] == "completed"
        assert task["last_source"] == "callback"
        assert task["result_urls"]

        async def received() -> bool:
            return bool(receiver.received)

        await eventually(received)
        (request,) = receiver.received  # only task.completed was asked for, and only once
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["type"] == "task.completed"
        assert payload["data"]["id"] == task["id"]
        assert payload["data"]["result_urls"] == task["result_urls"]

        images = tmp_path / "images"
        code, out, err = await cli("watch", task["id"], "--download", str(images), "--json")
        assert code == 0, err
        assert json.loads(out)["id"] == task["id"]
        saved = sorted(images.iterdir())
        assert len(saved) == len(task["result_urls"])
        assert all(p.read_bytes().startswith(PNG_MAGIC) for p in saved)
        assert not list(images.glob("*.part"))
        (delivery,) = await deliveries(world.genhook.services)
        assert (delivery.event_id, delivery.status, delivery.attempts) == (
            payload["id"],
            "succeeded",
            1,
        )

        # the newcomer's findings (issue 14), through the real executable:
        # adopting a task genhook has already is one clear line, no traceback
        code, _, err = await cli("track", "apimodels", task["provider_task_id"])
        assert code == 1 and "genhook already has a task" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1

        # a create whose answer is lost exits 1, says how to settle, and can be settled
        world.sim.configure(server_error_rate=1.0, fault_scope=["apimart"])
        code, out, err = await cli(
            "submit", "apimart", "--model", MODELS["apimart"], "--prompt", "lost"
        )
        world.sim.configure(server_error_rate=0.0)
        lost = json.loads(out)
        assert code == 1 and lost["status"] == "submitting"
        assert f"genhook tasks settle {lost['id']} --failed" in " ".join(err.split())

        # --stuck shows it with its reason, whole, on its own line
        code, out, err = await cli("tasks", "--stuck")
        assert code == 0, err
        (row,) = [line for line in out.splitlines() if lost["id"] in line]
        assert "submission unconfirmed: " in row  # (the reconciler may have flagged it)

        code, out, err = await cli("tasks", "settle", lost["id"], "--failed")
        assert code == 0, err
        settled = json.loads(out)
        assert (settled["status"], settled["error"]["code"]) == ("failed", "settled_by_operator")


@pytest.fixture
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path,
        database_url,
        delivery_allow_private_targets=True,
        delivery_schedule=(),
        events_poll_seconds=0.02,
    )
    async with running_genhook(settings) as harness:
        yield harness


@pytest.fixture
def runner(served: Harness, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return cli_runner(monkeypatch, served.base_url, served.token)


async def test_subscriber_commands(runner: CliRunner) -> None:
    secret = "whsec_" + "B" * 43 + "="
    code, out, err = await invoke(
        runner, "subscribers", "add", "http://127.0.0.1:9/h", "--secret", secret
    )
    assert code == 0, err
    sub = json.loads(out)
    assert sub["secret"] == secret and sub["event_types"] == []

    for args, words in (
        (["ftp://x/y"], "not an http:// or https:// URL"),
        (["http://127.0.0.1:9/h", "--events", "task.done"], "unknown event type 'task.done'"),
        (["http://127.0.0.1:9/h", "--secret", "whsec_short"], "not valid base64"),
    ):
        code, _, err = await invoke(runner, "subscribers", "add", *args)
        assert code == 1, args
        assert words in " ".join(err.split()), err

    code, out, err = await invoke(runner, "subscribers", "list", "--json")
    assert code == 0, err
    (listed,) = [json.loads(line) for line in out.splitlines()]
    assert listed["id"] == sub["id"] and "secret" not in listed

    code, out, err = await invoke(runner, "subscribers", "disable", sub["id"], "--reason", "moving")
    assert code == 0, err
    disabled = json.loads(out)  # JSON, like its siblings (issue 14; it used to print text)
    assert (disabled["active"], disabled["dead_lettered"]) == (False, 0)
    code, out, err = await invoke(runner, "subscribers", "show", sub["id"])
    assert code == 0, err
    assert json.loads(out)["disabled_reason"] == "moving"
    code, out, err = await invoke(runner, "subscribers", "enable", sub["id"])
    assert code == 0, err
    assert json.loads(out)["active"] is True
    code, out, err = await invoke(runner, "subscribers", "rotate", sub["id"])
    assert code == 0, err
    rotated = json.loads(out)
    assert rotated["secret"] != secret and rotated["active"] is True

    code, _, err = await invoke(runner, "subscribers", "remove", sub["id"])
    assert code == 0, err
    code, _, err = await invoke(runner, "subscribers", "remove", sub["id"])
    assert code == 5 and "no subscriber" in err  # not found: 5 on every command (issue 14)


async def test_deliveries_list_and_replay_commands(runner: CliRunner, served: Harness) -> None:
    services = served.services
    async with downstream(always(Reply(503))) as receiver:
        code, out, err = await invoke(runner, "subscribers", "add", receiver.url())
        assert code == 0, err
        sub_id = json.loads(out)["id"]
        event_id = await emit(services, await make_task(services))
        dispatcher = services.dispatcher(holder="cli-test", rng=random.Random(0))
        await dispatcher.dispatch_once()

        code, out, err = await invoke(runner, "deliveries", "list", "--dead", "--json")
        assert code == 0, err
        (row,) = [json.loads(line) for line in out.splitlines()]
        assert row["event_id"] == event_id and row["last_error"].startswith("HTTP 503")
        code, out, err = await invoke(runner, "deliveries", "show", str(row["id"]))
        assert code == 0, err
        assert [a["status_code"] for a in json.loads(out)["attempts"]] == [503]

        code, _, err = await invoke(
            runner, "deliveries", "replay", "--subscriber", sub_id, "--since", "soon"
        )
        assert code == 2 and "neither an ISO 8601 time" in " ".join(err.split())
        receiver.answer = always(Reply(200))
        code, _, err = await invoke(
            runner, "deliveries", "replay", "--subscriber", sub_id, "--dead", "--event", event_id
        )
        assert code == 0 and "re-queued 1" in err
        await dispatcher.dispatch_once()
        assert [d.status for d in await deliveries(services)] == ["succeeded"]
        code, out, err = await invoke(runner, "deliveries", "list", "--dead", "--json")
        assert code == 0, err
        assert out.strip() == ""


async def test_watch_follows_live_and_exits_by_outcome(runner: CliRunner, served: Harness) -> None:
    services = served.services
    # live: the current state first, then each event, until a terminal one
    task_id = await make_task(services)
    updates: list[tuple[str | None, str]] = []
    listening = asyncio.Event()

    def seen(task: resources.Task, event_type: str | None) -> None:
        updates.append((event_type, task.status))
        listening.set()

    following = asyncio.create_task(services.stream.follow_task(task_id, within=20, on_update=seen))
    await asyncio.wait_for(listening.wait(), 10)
    await emit(services, task_id, EventType.PROCESSING, status="processing")
    await emit(
        services,
        task_id,
        EventType.FAILED,
        status="failed",
        error_code="content_policy",
        error_message="refused",
    )
    final = await asyncio.wait_for(following, 20)
    assert updates == [
        (None, "pending"),
        ("task.processing", "processing"),
        ("task.failed", "failed"),
    ]
    assert exit_code(final) == 1

    # the command: exit codes by outcome
    code, out, _ = await invoke(runner, "watch", task_id)
    assert code == 1  # failed
    assert out.splitlines()[0].split() == ["now", task_id, "failed"]
    assert "error: content_policy: refused" in out
    code, _, err = await invoke(runner, "watch", "tsk_nope")
    assert code == 5 and "no task with id 'tsk_nope'" in err  # 5: not found (issue 14)
    still = await make_task(services)
    code, _, _ = await invoke(runner, "watch", still, "--timeout", "0.2")
    assert code == EXIT_TIMED_OUT == 3
