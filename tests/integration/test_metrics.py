"""Each metric moves as its event happens, through the real parts: callbacks over HTTP
to a real server, polls of the simulator, webhooks to a real downstream receiver,
the SSE stream, and ``/metrics`` itself, on SQLite and PostgreSQL.

The metric objects are process-wide (as in production), so every test reads the
change of a sample around what it does, never an absolute value.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from receiver import metrics
from receiver.lifecycle import Status
from receiver.simulator.config import SimulatorConfig
from receiver.submit import SubmitRequest
from storage.models import Task
from tests.conftest import FakeClock, make_settings
from tests.fixtures.apimodels import callback_body
from tests.support.callbacks import new_callback_path
from tests.support.delivery import emit, make_task
from tests.support.downstream import Reply, always, downstream
from tests.support.harness import Harness, running_genhook
from tests.support.simulated import MODELS, SIM_KEY, Simulated, simulated_genhook
from tests.support.waiting import eventually


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def change(name: str, **labels: str) -> Callable[[], float]:
    """``change(...)()``: how much the sample moved since this call."""
    before = value(name, **labels)
    return lambda: value(name, **labels) - before


CALLBACKS = "genhook_callbacks_received_total"


async def test_callbacks_are_counted_by_outcome(genhook: Harness) -> None:
    outcomes = (
        "applied",
        "duplicate",
        "stale",
        "anomaly",
        "ignored",
        "quarantined",
        "refused",
        "unavailable",
    )
    counted = {o: change(CALLBACKS, provider="apimodels", outcome=o) for o in outcomes}
    unknown = change(CALLBACKS, provider="unknown", outcome="refused")
    no_callbacks = change(CALLBACKS, provider="apimall", outcome="refused")
    processing = change(
        "genhook_task_transitions_total",
        provider="apimodels",
        status="processing",
        source="callback",
    )
    completed = change(
        "genhook_task_transitions_total",
        provider="apimodels",
        status="completed",
        source="callback",
    )
    # a receiver-only task learns its model from the callback's param
    durations = change(
        "genhook_task_duration_seconds_count", provider="apimodels", model="gemini-3-pro-image-lite"
    )
    batched = change("genhook_ingest_batch_size_sum")
    commits = change("genhook_ingest_commit_seconds_count")
    batches = change("genhook_ingest_batch_size_count")

    _task_id, path = await new_callback_path(genhook)
    answers = []
    for body in (
        callback_body(state="generating", result_json=None),  # applied: processing
        callback_body(),  # applied: completed
        callback_body(),  # duplicate
        callback_body(state="generating", result_json=None),  # stale
        callback_body(state="failed", result_json=None, fail_code="500"),  # anomaly
        callback_body(state="mystery"),  # ignored
        b"not json at all",  # quarantined
    ):
        answers.append((await genhook.client.post(path, content=body)).json()["status"])
    assert answers == [
        "applied",
        "applied",
        "duplicate",
        "stale",
        "anomaly",
        "ignored",
        "quarantined",
    ]
    forged = path.rsplit(".", 1)[0] + ".forged"
    assert (await genhook.client.post(forged, content=callback_body())).status_code == 401
    too_big = b"{" + b" " * genhook.services.settings.callback_max_body + b"}"
    assert (await genhook.client.post(path, content=too_big)).status_code == 413
    assert (await genhook.client.post("/callbacks/nope/x.y", content=b"{}")).status_code == 404
    assert (await genhook.client.post("/callbacks/apimall/x.y", content=b"{}")).status_code == 404

    assert {o: counted[o]() for o in outcomes} == {
        "applied": 2,
        "duplicate": 1,
        "stale": 1,
        "anomaly": 1,
        "ignored": 1,
        "quarantined": 1,
        "refused": 2,  # the forged token and the oversized body
        "unavailable": 0,
    }
    assert (unknown(), no_callbacks()) == (1, 1)
    assert (processing(), completed()) == (1, 1)
    assert durations() == 1
    assert batched() == 7  # every stored callback went through one group commit
    assert commits() == batches() >= 1


async def test_a_callback_the_database_cannot_take_is_counted_unavailable(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    async with running_genhook(settings) as genhook:
        _task_id, path = await new_callback_path(genhook)
        unavailable = change(CALLBACKS, provider="apimodels", outcome="unavailable")
        await genhook.services.engine.dispose()
        (tmp_path / "g.db").unlink()
        (tmp_path / "g.db").mkdir()  # the file is gone and cannot come back: writes fail
        response = await genhook.client.post(path, content=callback_body())
        assert response.status_code == 503
        assert unavailable() == 1


async def test_nothing_is_counted_for_a_transaction_that_rolls_back(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url)
    async with running_genhook(settings) as genhook:
        services = genhook.services
        committed = change("genhook_callback_lost_total", provider="probe")
        with pytest.raises(RuntimeError):
            async with services.sessions() as session, session.begin():
                metrics.callback_lost(session, "probe")
                raise RuntimeError("roll back")
        assert committed() == 0
        async with services.sessions() as session, session.begin():
            metrics.callback_lost(session, "probe")
            assert committed() == 0  # not before the commit
        assert committed() == 1


@pytest.fixture
async def world(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> AsyncIterator[Simulated]:
    settings = make_settings(
        tmp_path,
        database_url,
        provider_retry_attempts=1,
        provider_retry_budget_seconds=0,
        circuit_failures=2,
        delivery_allow_private_targets=True,
    )
    config = SimulatorConfig(api_key=SIM_KEY, task_duration=10, seed=3, retry_after=0)
    async with simulated_genhook(settings, config) as simulated:
        yield simulated


async def submit(world: Simulated, provider: str, prompt: str = "a fox") -> str:
    submitter = world.genhook.services.submitter(rng=random.Random(1))
    task = await submitter.submit(SubmitRequest(provider, MODELS[provider], prompt, {}))
    assert task.status == Status.PENDING, task.error_message
    return task.id


async def poll_until_terminal(world: Simulated, fake_clock: FakeClock, task_id: str) -> Task:
    poller = world.genhook.services.poller(holder="metrics-test", rng=random.Random(0))
    for _ in range(200):
        fake_clock.advance(5)
        await poller.poll_once()
        async with world.genhook.services.sessions() as session:
            task = await session.get(Task, task_id)
        assert task is not None
        if Status(task.status).is_terminal:
            return task
    raise AssertionError(f"{task_id} never finished")


async def test_a_callback_provider_task_finished_by_a_poll_is_a_lost_callback(
    world: Simulated, fake_clock: FakeClock
) -> None:
    lost = change("genhook_callback_lost_total", provider="apimodels")
    lost_apimall = change("genhook_callback_lost_total", provider="apimall")
    by_poll = change(
        "genhook_task_transitions_total", provider="apimodels", status="completed", source="poll"
    )
    created = change(
        "genhook_provider_requests_total", provider="apimodels", endpoint="create", status="200"
    )
    statuses = change(
        "genhook_provider_requests_total", provider="apimodels", endpoint="status", status="200"
    )
    timed = change(
        "genhook_provider_request_seconds_count", provider="apimodels", endpoint="status"
    )
    durations = change(
        "genhook_task_duration_seconds_count", provider="apimodels", model=MODELS["apimodels"]
    )

    dropped = await submit(world, "apimodels", "its callback is lost [sim:drop]")
    polled = await submit(world, "apimall")  # no callbacks at all: nothing is lost
    assert (await poll_until_terminal(world, fake_clock, dropped)).last_source == "poll"
    assert (await poll_until_terminal(world, fake_clock, polled)).last_source == "poll"

    assert (lost(), lost_apimall()) == (1, 0)
    assert by_poll() == 1
    assert created() == 1
    assert statuses() >= 1
    assert timed() == statuses()
    assert durations() == 1


async def test_the_circuit_gauge_opens_with_failures_and_closes_on_success(
    world: Simulated, fake_clock: FakeClock
) -> None:
    gauge = "genhook_provider_circuit_open"
    errors = change(
        "genhook_provider_requests_total", provider="apimart", endpoint="batch", status="500"
    )
    task_id = await submit(world, "apimart")
    world.sim.configure(server_error_rate=1.0, fault_scope=("apimart",))
    poller = world.genhook.services.poller(holder="metrics-test", rng=random.Random(0))
    for _ in range(60):
        fake_clock.advance(2)
        await poller.poll_once()
        if value(gauge, provider="apimart") == 1:
            break
    assert value(gauge, provider="apimart") == 1
    assert errors() >= world.genhook.services.settings.circuit.failures

    world.sim.configure(server_error_rate=0.0)
    for _ in range(200):
        fake_clock.advance(2)
        await poller.poll_once()
        if value(gauge, provider="apimart") == 0:
            break
    assert value(gauge, provider="apimart") == 0
    await poll_until_terminal(world, fake_clock, task_id)


async def test_deliveries_are_counted_by_outcome_with_the_lag_of_successes(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, delivery_allow_private_targets=True)
    succeeded = change("genhook_deliveries_total", outcome="succeeded")
    retried = change("genhook_deliveries_total", outcome="retry")
    lagged = change("genhook_delivery_lag_seconds_count")
    lag_sum = change("genhook_delivery_lag_seconds_sum")
    async with (
        running_genhook(settings) as genhook,
        downstream(always(Reply(200))) as ok,
        downstream(always(Reply(500))) as failing,
    ):
        services = genhook.services
        for url in (ok.url(), failing.url()):
            await services.subscribers.add(url, [], None)
        task_id = await make_task(services)
        await emit(services, task_id)
        await asyncio.sleep(0.05)  # the lag is measured from the event's commit
        await services.dispatcher(holder="metrics-test").dispatch_once()
    assert (succeeded(), retried()) == (1, 1)
    assert lagged() == 1
    assert 0.05 <= lag_sum() < 10


async def test_open_event_streams_are_a_gauge(genhook: Harness) -> None:
    streams = change("genhook_sse_streams")
    async with genhook.client.stream("GET", "/api/events") as response:
        assert response.status_code == 200
        await eventually(lambda: streams() == 1)
    await eventually(lambda: streams() == 0)


def parse(text: str) -> dict[str, float]:
    """Every sample of an exposition, keyed ``name{label="value",...}``."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


async def test_metrics_route_serves_process_and_database_metrics(genhook: Harness) -> None:
    services = genhook.services
    task_id = await make_task(services)  # a pending task
    await emit(services, task_id, status=Status.COMPLETED.value)
    await make_task(services)
    response = await genhook.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = parse(response.text)
    assert samples['genhook_tasks{status="pending"}'] == 1
    assert samples['genhook_tasks{status="completed"}'] == 1
    assert samples['genhook_tasks{status="failed"}'] == 0
    assert samples["genhook_deliveries_pending{}"] == 0
    assert samples["genhook_dead_letters{}"] == 0
    assert "process_resident_memory_bytes{}" in samples  # single-process: the process collector
    lines = response.text.splitlines()
    assert "# TYPE genhook_sse_streams gauge" in lines
    assert any(line.startswith("# HELP genhook_callbacks_received_total ") for line in lines)


async def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(genhook: Harness) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = await genhook.client.get("/metrics", headers={"Accept": accept})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "genhook_tasks{" in response.text


async def test_database_gauges_are_cached_for_the_configured_time(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, metrics_cache_seconds=3600)
    async with running_genhook(settings) as genhook:
        first = parse((await genhook.client.get("/metrics")).text)
        await make_task(genhook.services)
        again = parse((await genhook.client.get("/metrics")).text)
    assert first['genhook_tasks{status="pending"}'] == 0
    assert again['genhook_tasks{status="pending"}'] == 0  # not read again within the hour


async def test_metrics_follow_the_admin_api_rule(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, api_token=SecretStr("s3cret"))
    async with running_genhook(settings) as genhook:
        async with genhook.anonymous() as anonymous:
            refused = await anonymous.get("/metrics")
        allowed = await genhook.client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert refused.status_code == 401
    assert allowed.status_code == 200 and "genhook_tasks" in allowed.text


async def test_delivery_lag_counts_from_the_event_not_the_attempt(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    """A delivery retried an hour later reports an hour of lag."""
    settings = make_settings(tmp_path, database_url, delivery_allow_private_targets=True)
    lag_sum = change("genhook_delivery_lag_seconds_sum")
    lagged = change("genhook_delivery_lag_seconds_count")
    replies = iter([Reply(500), Reply(200)])
    async with (
        running_genhook(settings) as genhook,
        downstream(lambda request, n: next(replies)) as receiver,
    ):
        services = genhook.services
        await services.subscribers.add(receiver.url(), [], None)
        await emit(services, await make_task(services))
        dispatcher = services.dispatcher(holder="metrics-test")
        await dispatcher.dispatch_once()  # 500: retried later
        assert lagged() == 0
        fake_clock.advance(3600)
        await dispatcher.dispatch_once()
    assert lagged() == 1
    assert 3600 - 1e-6 <= lag_sum() < 3700  # (float sums)


async def test_a_scrape_survives_a_database_that_does_not_answer(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    async with running_genhook(settings) as genhook:
        await genhook.services.engine.dispose()
        (tmp_path / "g.db").unlink()
        (tmp_path / "g.db").mkdir()
        response = await genhook.client.get("/metrics")
    assert response.status_code == 200
    assert "genhook_tasks{" not in response.text  # absent, not stale
    assert "# HELP genhook_callbacks_received_total" in response.text  # the rest still answers
