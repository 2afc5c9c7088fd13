"""The three adapters over real HTTP against the bundled provider simulator.

Each test runs its own simulator under uvicorn (``tests/support/servers.py``), drives
an adapter at it, and checks both what the adapter returned and what the simulator
saw (``app.state.simulator``: tasks, request counters). Simulated time runs at 1/100
so tasks finish in a tenth of a second; ``Retry-After`` is sent in whole seconds, so
the retry tests wait about one real second.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.lifecycle import Source, Status, TaskSnapshot, normalize_state
from receiver.providers.adapter import HttpAdapter
from receiver.providers.apimall import ApimallAdapter
from receiver.providers.apimart import ApimartAdapter
from receiver.providers.apimodels import ApimodelsAdapter
from receiver.providers.errors import (
    ContentRejectedError,
    InsufficientCreditsError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConflictError,
    ProviderNetworkError,
    ProviderNotFoundError,
    ProviderRateLimitedError,
    ProviderServerError,
    ProviderValidationError,
)
from receiver.providers.registry import build_adapters
from receiver.providers.retry import RetryPolicy
from receiver.settings import Settings
from receiver.simulator import Simulator, SimulatorConfig, create_simulator_app
from tests.support.servers import serve
from tests.support.waiting import eventually, timed

KEY = "sim-key"
BASELINE = SimulatorConfig(api_key=KEY, time_factor=0.01, seed=11)
POLICY = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2, budget=5)

MODELS = {
    ApimodelsAdapter: "gemini-3-pro-image-lite",
    ApimallAdapter: "nano-banana",
    ApimartAdapter: "gpt-image-2",
}
ALL = list(MODELS)


@dataclass
class Env:
    sim: Simulator
    base_url: str
    client: httpx.AsyncClient

    def adapter(self, cls: type[HttpAdapter], key: str | None = KEY, **kwargs: Any) -> Any:
        return cls(self.client, self.base_url, key, policy=POLICY, rng=random.Random(1), **kwargs)

    def requests(self, endpoint: str) -> int:
        return self.sim.stats.endpoints[endpoint]

    def statuses(self, endpoint: str) -> dict[int, int]:
        return dict(self.sim.stats.statuses[endpoint])


@contextlib.asynccontextmanager
async def running(**config: Any) -> AsyncIterator[Env]:
    app = create_simulator_app(BASELINE.updated(config))
    async with serve(app) as base_url, httpx.AsyncClient(timeout=5) as client:
        yield Env(app.state.simulator, base_url, client)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with running() as env:
        yield env


async def until_terminal(adapter: Any, task_id: str, within: float = 5) -> TaskSnapshot:
    deadline = time.monotonic() + within
    while True:
        snapshot: TaskSnapshot = await adapter.fetch(task_id)
        status = normalize_state(snapshot.state)
        if status is not None and status.is_terminal:
            return snapshot
        if time.monotonic() > deadline:
            raise AssertionError(f"{task_id} still {snapshot.state} after {within}s")
        await asyncio.sleep(0.05)


async def create(adapter: Any, prompt: str = "a red fox", key: str = "tsk_1", **params: Any) -> Any:
    model = MODELS[type(adapter)]
    return await adapter.create(model, prompt, params, idempotency_key=key, callback_url=None)


# --- create → status → completed, per provider ------------------------------------------


async def test_apimodels_create_and_poll_to_completion(env: Env) -> None:
    adapter = env.adapter(ApimodelsAdapter)
    result = await create(adapter, aspect_ratio="16:9", resolution="2k")
    assert result.snapshot.source is Source.SUBMIT
    assert normalize_state(result.snapshot.state) is Status.PENDING
    final = await until_terminal(adapter, result.provider_task_id)
    assert final.source is Source.POLL
    assert final.state == "completed"
    assert final.provider_task_id == result.provider_task_id
    assert final.result_urls and all(
        u.startswith(env.base_url + "/files/") for u in final.result_urls
    )
    assert final.provider_created_at is not None and final.provider_completed_at is not None
    task = env.sim.tasks.find(result.provider_task_id)
    assert task is not None and task.params["aspect_ratio"] == "16:9"


async def test_apimall_create_and_poll_to_completion_with_credits(env: Env) -> None:
    adapter = env.adapter(ApimallAdapter)
    result = await create(adapter, num_images=2, output_format="png")
    assert result.provider_task_id.startswith("img_")
    assert result.snapshot.credits_used == 16  # 8 per image
    assert result.snapshot.remaining_credits == 1000 - 16
    final = await until_terminal(adapter, result.provider_task_id)
    assert normalize_state(final.state) is Status.COMPLETED
    assert len(final.result_urls) == 2  # output.resultUrls + primary_url + image_url, deduped
    assert (final.credits_used, final.credits_refunded) == (16, 0)


async def test_apimart_create_poll_and_expiry(env: Env) -> None:
    adapter = env.adapter(ApimartAdapter)
    result = await create(adapter, size="16:9", n=1)
    assert result.snapshot.state == "submitted"
    final = await until_terminal(adapter, result.provider_task_id)
    assert final.state == "completed"
    assert len(final.result_urls) == 1
    assert final.result_expires_at is not None and final.provider_completed_at is not None
    assert (final.result_expires_at - final.provider_completed_at).total_seconds() == 24 * 3600
    assert final.provider_cost_ms is not None


@pytest.mark.parametrize("cls", ALL)
async def test_failed_generation_reports_the_message(env: Env, cls: type[HttpAdapter]) -> None:
    adapter = env.adapter(cls)
    result = await create(adapter, prompt="a fox [sim:fail=out of ink]")
    final = await until_terminal(adapter, result.provider_task_id)
    assert normalize_state(final.state) is Status.FAILED
    assert final.error_message == "out of ink"
    assert final.result_urls == ()
    if cls is ApimallAdapter:
        assert final.credits_refunded == final.credits_used == 8


# --- batch and fan-out --------------------------------------------------------------------


async def test_apimart_batch_is_chunked_to_the_limit_and_skips_unknown_ids() -> None:
    async with running(apimart_batch_limit=2) as env:
        adapter = env.adapter(ApimartAdapter, batch_size=2)
        ids = [(await create(adapter, key=f"k{i}")).provider_task_id for i in range(3)]
        result = await adapter.fetch_many([ids[0], "task_unknown", ids[1], ids[2], ids[0]])
        assert list(result) == ids
        assert all(s.source is Source.POLL for s in result.values())
        assert env.requests("apimart.batch") == 2  # [a, unknown], [b, c]
        assert env.statuses("apimart.batch") == {200: 2}
        assert env.requests("apimart.status") == 0


async def test_apimart_batch_larger_than_the_simulators_limit_is_refused() -> None:
    async with running(apimart_batch_limit=2) as env:
        adapter = env.adapter(ApimartAdapter, batch_size=3)
        with pytest.raises(ProviderBadRequestError) as info:
            await adapter.fetch_many(["a", "b", "c"])
        assert "at most 2" in info.value.message
        assert env.requests("apimart.batch") == 1  # a 400 is not retried


@pytest.mark.parametrize("cls", [ApimodelsAdapter, ApimallAdapter])
async def test_fetch_many_without_a_batch_endpoint(env: Env, cls: type[HttpAdapter]) -> None:
    adapter = env.adapter(cls, concurrency=2)
    ids = [(await create(adapter, key=f"k{i}")).provider_task_id for i in range(3)]
    result = await adapter.fetch_many([*ids, "img_unknown"])
    assert list(result) == ids
    assert env.requests(f"{adapter.name}.status") == 4


# --- documented errors ----------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
async def test_unknown_task_is_not_found(env: Env, cls: type[HttpAdapter]) -> None:
    adapter = env.adapter(cls)
    with pytest.raises(ProviderNotFoundError) as info:
        await adapter.fetch("img_does_not_exist")
    assert info.value.status_code == 404
    assert not info.value.retryable
    assert env.requests(f"{adapter.name}.status") == 1


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("key", ["wrong-key", None])
async def test_bad_or_missing_key_is_an_auth_error(
    env: Env, cls: type[HttpAdapter], key: str | None
) -> None:
    adapter = env.adapter(cls, key=key)
    with pytest.raises(ProviderAuthError) as info:
        await create(adapter)
    assert info.value.status_code == 401
    assert info.value.code in {"invalid_api_key", "api_key_required", "401"}
    assert len(env.sim.tasks) == 0
    assert sum(env.sim.stats.endpoints.values()) == 1  # never retried


@pytest.mark.parametrize("cls", ALL)
async def test_provider_side_bad_request(env: Env, cls: type[HttpAdapter]) -> None:
    adapter = env.adapter(cls)
    with pytest.raises(ProviderBadRequestError) as info:
        await create(adapter, prompt="a fox [sim:typo]")
    assert info.value.status_code == 400
    assert "typo" in info.value.message
    assert len(env.sim.tasks) == 0


async def test_apimall_insufficient_credits() -> None:
    async with running(apimall_credits=10) as env:
        adapter = env.adapter(ApimallAdapter)
        await create(adapter, key="k1")  # 8 credits
        with pytest.raises(InsufficientCreditsError) as info:
            await create(adapter, key="k2")
        assert (info.value.status_code, info.value.code) == (402, "insufficient_credits")
        assert env.statuses("apimall.create") == {200: 1, 402: 1}


async def test_apimall_blocked_prompt_is_content_rejected(env: Env) -> None:
    adapter = env.adapter(ApimallAdapter)
    with pytest.raises(ContentRejectedError) as info:
        await create(adapter, prompt="something [sim:blocked]")
    assert (info.value.status_code, info.value.code) == (451, "content_blocked")
    assert env.requests("apimall.create") == 1


async def test_apimart_blocked_prompt_is_refused_at_submission(env: Env) -> None:
    adapter = env.adapter(ApimartAdapter)
    with pytest.raises(ProviderBadRequestError) as info:
        await create(adapter, prompt="something [sim:blocked]")
    assert info.value.code == "content_policy_violation"
    assert len(env.sim.tasks) == 0


# --- validation happens before any request ------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "model", "params", "field"),
    [
        (ApimartAdapter, "gemini-2.5-flash-image-preview", {"n": 5}, "n"),
        (
            ApimartAdapter,
            "gemini-2.5-flash-image-preview",
            {"mask_url": "https://m.png"},
            "mask_url",
        ),
        (
            ApimartAdapter,
            "gemini-2.5-flash-image-preview-official",
            {"official_fallback": True},
            "official_fallback",
        ),
        (ApimartAdapter, "gpt-image-2", {"size": "1024x1024"}, "size"),
        (ApimartAdapter, "gpt-image-2", {"n": 2}, "n"),
        (ApimartAdapter, "dall-e-3", {}, "model"),
        (ApimallAdapter, "nano-banana", {"num_images": 7}, "num_images"),
        (ApimallAdapter, "nano-banana", {"scale": 5}, "scale"),
        (ApimallAdapter, "nano-banana", {"output_format": "webp"}, "output_format"),
        (ApimallAdapter, "nano-banana-pro", {"type": "upscale"}, "type"),
        (ApimodelsAdapter, "gemini-3-pro-image", {"image_url": 1}, "image_url"),
        (ApimodelsAdapter, "midjourney", {}, "model"),
    ],
)
async def test_validation_failures_send_nothing(
    env: Env, cls: type[HttpAdapter], model: str, params: dict[str, Any], field: str
) -> None:
    adapter = env.adapter(cls)
    with pytest.raises(ProviderValidationError) as info:
        await adapter.create(model, "a fox", params, idempotency_key="k", callback_url=None)
    assert info.value.field == field
    assert field in str(info.value)
    assert sum(env.sim.stats.endpoints.values()) == 0


async def test_apimart_prompt_limit_is_checked_locally(env: Env) -> None:
    adapter = env.adapter(ApimartAdapter)
    with pytest.raises(ProviderValidationError):
        await adapter.create(
            "gemini-2.5-flash-image-preview", "x" * 1001, {}, idempotency_key="k", callback_url=None
        )
    await adapter.create(
        "gemini-2.5-flash-image-preview", "x" * 1000, {}, idempotency_key="k", callback_url=None
    )
    assert env.requests("apimart.create") == 1


# --- retries: 429 with Retry-After, 5xx, network ------------------------------------------


async def when(condition: Callable[[], bool], then: Callable[[], Any]) -> None:
    """Once ``condition`` holds (the simulator's counters live in another task of this
    loop, so there is nothing to wait on but time), call ``then``, e.g. lift a fault."""
    await eventually(condition, within=30, every=0.005)
    then()


def answered(env: Env, endpoint: str, status: int) -> Callable[[], bool]:
    return lambda: env.statuses(endpoint).get(status, 0) >= 1


@pytest.mark.parametrize("cls", ALL)
async def test_429_is_retried_after_retry_after(cls: type[HttpAdapter]) -> None:
    # retry_after=100 simulated seconds x 0.01 = 1 real second (whole seconds on the wire)
    async with running(rate_limit_rate=1.0, retry_after=100) as env:
        adapter = env.adapter(cls)
        endpoint = f"{adapter.name}.create"
        lift = asyncio.create_task(
            when(answered(env, endpoint, 429), lambda: env.sim.configure(rate_limit_rate=0.0))
        )
        result, elapsed = await timed(create(adapter))
        await lift
        assert result.provider_task_id
        assert env.statuses(endpoint) == {429: 1, 200: 1}
        assert elapsed >= 0.95  # waited the full Retry-After, not the 0.05 s backoff


@pytest.mark.parametrize("cls", ALL)
async def test_429_beyond_the_budget_reaches_the_caller_with_retry_after(
    cls: type[HttpAdapter],
) -> None:
    async with running(rate_limit_rate=1.0, retry_after=30, time_factor=1.0) as env:
        adapter = env.adapter(cls)
        with pytest.raises(ProviderRateLimitedError) as info:
            await create(adapter)
        assert info.value.retry_after == 30.0  # > POLICY.budget: given up at once
        assert info.value.retryable
        assert env.requests(f"{adapter.name}.create") == 1


@pytest.mark.parametrize("cls", ALL)
async def test_persistent_429_stops_after_max_attempts(cls: type[HttpAdapter]) -> None:
    async with running(rate_limit_rate=1.0, retry_after=0) as env:
        adapter = env.adapter(cls)
        with pytest.raises(ProviderRateLimitedError):
            await adapter.fetch("anything")
        assert env.requests(f"{adapter.name}.status") == POLICY.max_attempts


async def test_apimall_503_create_is_retried() -> None:
    async with running(server_error_rate=1.0) as env:
        adapter = env.adapter(ApimallAdapter)
        lift = asyncio.create_task(
            when(
                answered(env, "apimall.create", 503), lambda: env.sim.configure(server_error_rate=0)
            )
        )
        result = await create(adapter)
        await lift
        assert result.provider_task_id.startswith("img_")
        assert env.statuses("apimall.create") == {503: 1, 200: 1}


@pytest.mark.parametrize("cls", [ApimodelsAdapter, ApimartAdapter])
async def test_500_on_a_create_without_idempotency_is_not_retried(cls: type[HttpAdapter]) -> None:
    async with running(server_error_rate=1.0) as env:
        adapter = env.adapter(cls)
        with pytest.raises(ProviderServerError) as info:
            await create(adapter)
        assert info.value.status_code == 500
        assert not info.value.retryable
        assert env.requests(f"{adapter.name}.create") == 1


@pytest.mark.parametrize("cls", ALL)
async def test_5xx_on_a_read_is_retried(cls: type[HttpAdapter]) -> None:
    async with running() as env:
        adapter = env.adapter(cls)
        task_id = (await create(adapter)).provider_task_id
        env.sim.configure(server_error_rate=1.0)
        endpoint = f"{adapter.name}.status"
        failure = 503 if cls is ApimallAdapter else 500  # API Mall's outage is a 503
        lift = asyncio.create_task(
            when(answered(env, endpoint, failure), lambda: env.sim.configure(server_error_rate=0))
        )
        snapshot = await adapter.fetch(task_id)
        await lift
        assert snapshot.provider_task_id == task_id
        assert sum(env.statuses(endpoint).values()) == 2


async def test_network_error_when_nothing_listens() -> None:
    async with running() as env:
        closed = env.base_url
    async with httpx.AsyncClient(timeout=1) as client:
        adapter = ApimartAdapter(client, closed, KEY, policy=POLICY)
        with pytest.raises(ProviderNetworkError) as info:
            await adapter.fetch("task_x")
        assert info.value.retryable  # a read; retried, then given up
        with pytest.raises(ProviderNetworkError) as info:
            await create(adapter)
        assert not info.value.retryable


# --- API Mall idempotency ------------------------------------------------------------------


async def test_apimall_same_key_same_request_is_one_task_billed_once(env: Env) -> None:
    adapter = env.adapter(ApimallAdapter)
    first = await create(adapter, key="genhook-tsk-1")
    again = await create(adapter, key="genhook-tsk-1")
    assert again.provider_task_id == first.provider_task_id
    assert again.snapshot.remaining_credits == first.snapshot.remaining_credits == 992
    assert len(env.sim.tasks) == 1
    other = await create(adapter, key="genhook-tsk-2")
    assert other.provider_task_id != first.provider_task_id
    assert other.snapshot.remaining_credits == 984


async def test_apimall_same_key_different_request_is_a_conflict(env: Env) -> None:
    adapter = env.adapter(ApimallAdapter)
    await create(adapter, key="genhook-tsk-1")
    with pytest.raises(ProviderConflictError) as info:
        await create(adapter, prompt="a blue fox", key="genhook-tsk-1")
    assert (info.value.status_code, info.value.code) == (409, "idempotency_conflict")
    assert env.statuses("apimall.create") == {200: 1, 409: 1}  # 409 is not retried


class LoseFirstAnswer(httpx.AsyncBaseTransport):
    """Real HTTP, except that the first answer is thrown away and reported as a read
    timeout: the provider did the work, we never heard back."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.lost == 0:
            self.lost += 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("cls", [ApimallAdapter, ApimartAdapter])
async def test_create_whose_answer_was_lost(env: Env, cls: type[HttpAdapter]) -> None:
    """API Mall retries with the same Idempotency-Key: one task, billed once. APIMart
    has no such key, so it must not retry (a retry would create a second task)."""
    transport = LoseFirstAnswer()
    async with httpx.AsyncClient(transport=transport) as client:
        adapter = cls(client, env.base_url, KEY, policy=POLICY, rng=random.Random(1))
        if cls is ApimartAdapter:
            with pytest.raises(ProviderNetworkError):
                await create(adapter)
            assert env.requests("apimart.create") == 1
            assert len(env.sim.tasks) == 1  # the lost one; genhook reports the failure
            return
        result = await create(adapter, key="genhook-tsk-lost")
    assert env.requests("apimall.create") == 2
    assert [t.id for t in env.sim.tasks] == [result.provider_task_id]
    assert result.snapshot.remaining_credits == 992  # charged once


# --- apimodels callback, parsed by the adapter --------------------------------------------


async def test_apimodels_callback_from_the_simulator_parses(env: Env) -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def hook(request: Request) -> Response:
        await received.put(await request.body())
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/cb", hook, methods=["POST"])])
    async with serve(receiver) as hook_url:
        adapter = env.adapter(ApimodelsAdapter)
        result = await adapter.create(
            "gemini-3-pro-image", "a fox", {}, idempotency_key="k", callback_url=f"{hook_url}/cb"
        )
        body = await asyncio.wait_for(received.get(), timeout=5)
    parsed = adapter.parse_callback(body, observed_at=result.snapshot.observed_at)
    assert parsed.parse_errors == ()
    assert parsed.snapshot.source is Source.CALLBACK
    assert parsed.snapshot.provider_task_id == result.provider_task_id
    assert parsed.snapshot.state == "completed"
    assert parsed.snapshot.result_urls
    assert parsed.request_params["callback_url"] == f"{hook_url}/cb"


# --- registry against the simulator --------------------------------------------------------


async def test_registry_adapters_all_work_on_one_simulator(env: Env) -> None:
    settings = Settings(
        _env_file=None,
        apimodels_base_url=env.base_url,
        apimall_base_url=env.base_url,
        apimart_base_url=env.base_url,
        apimodels_api_key=KEY,
        apimall_api_key=KEY,
        apimart_api_key=KEY,
    )
    adapters = build_adapters(settings, env.client)
    for name, adapter in adapters.items():
        model = adapter.catalog.model_names[0]
        result = await adapter.create(
            model, "a fox", {}, idempotency_key=f"k-{name}", callback_url=None
        )
        snapshot = await adapter.fetch(result.provider_task_id)
        assert snapshot.provider_task_id == result.provider_task_id
    assert {t.gateway for t in env.sim.tasks} == {"apimodels", "apimall", "apimart"}
