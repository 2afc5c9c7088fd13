"""The retry loop, Retry-After reading and bounded fan-out, with time and network faked."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest

from receiver import clock
from receiver.lifecycle import Source, TaskSnapshot
from receiver.providers.batching import chunks, fetch_each, unique
from receiver.providers.errors import (
    ProviderBadRequestError,
    ProviderNotFoundError,
    ProviderProtocolError,
    ProviderRateLimitedError,
    ProviderServerError,
    ProviderUnavailableError,
)
from receiver.providers.retry import RetryPolicy
from receiver.providers.transport import (
    MAX_ANSWER_BYTES,
    ErrorInfo,
    ProviderHttp,
    call_with_retries,
)

POLICY = RetryPolicy(max_attempts=4, base_delay=1, multiplier=2, max_delay=8, budget=30)


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def failing(*errors: Exception) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls = [0]
    pending = list(errors)

    async def operation() -> str:
        calls[0] += 1
        if pending:
            raise pending.pop(0)
        return "ok"

    return calls, operation


async def test_loop_honours_retry_after_then_backs_off() -> None:
    sleep = FakeSleep()
    calls, operation = failing(
        ProviderRateLimitedError("slow down", provider="p", retry_after=2.5),
        ProviderUnavailableError("busy", provider="p"),
    )
    result = await call_with_retries(
        operation,
        idempotent=False,
        policy=POLICY,
        rng=random.Random(3),
        sleep=sleep,
    )
    assert result == "ok"
    assert calls[0] == 3
    assert sleep.waits[0] == 2.5
    assert 1.0 <= sleep.waits[1] <= 2.0  # attempt 2: step 2 s, equal jitter


async def test_loop_gives_up_at_once_on_a_rejection() -> None:
    sleep = FakeSleep()
    calls, operation = failing(ProviderBadRequestError("bad", provider="p"))
    with pytest.raises(ProviderBadRequestError):
        await call_with_retries(
            operation,
            idempotent=True,
            policy=POLICY,
            rng=random.Random(),
            sleep=sleep,
        )
    assert (calls[0], sleep.waits) == (1, [])


async def test_loop_stops_after_max_attempts_with_the_last_error() -> None:
    sleep = FakeSleep()
    errors = [ProviderServerError(f"e{i}", provider="p") for i in range(10)]
    calls, operation = failing(*errors)
    with pytest.raises(ProviderServerError) as info:
        await call_with_retries(
            operation,
            idempotent=True,
            policy=POLICY,
            rng=random.Random(),
            sleep=sleep,
        )
    assert calls[0] == 4
    assert len(sleep.waits) == 3
    assert info.value.message == "e3"


async def test_loop_gives_up_when_retry_after_exceeds_the_budget() -> None:
    sleep = FakeSleep()
    calls, operation = failing(ProviderRateLimitedError("x", provider="p", retry_after=31))
    with pytest.raises(ProviderRateLimitedError) as info:
        await call_with_retries(
            operation,
            idempotent=True,
            policy=POLICY,
            rng=random.Random(),
            sleep=sleep,
        )
    assert calls[0] == 1
    assert info.value.retry_after == 31  # for the caller to reschedule


async def test_http_date_retry_after_is_read_against_the_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 3, 12, 9, 30, tzinfo=UTC))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "Thu, 12 Mar 2026 09:31:00 GMT"})

    http = ProviderHttp(
        provider="p",
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        base_url="https://gw.test",
        api_key="k",
        read_error=lambda status, body: None,
        policy=RetryPolicy(max_attempts=1),
        rng=random.Random(),
    )
    with pytest.raises(ProviderRateLimitedError) as info:
        await http.request("GET", "/x", endpoint="status", idempotent=True)
    assert info.value.retry_after == 60.0
    assert info.value.status_code == 429


async def test_error_reader_can_turn_a_200_into_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 404})

    http = ProviderHttp(
        provider="p",
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        base_url="https://gw.test",
        api_key=None,
        read_error=lambda status, body: ErrorInfo(body["code"], "c", "gone"),
        policy=RetryPolicy(max_attempts=1),
        rng=random.Random(),
    )
    with pytest.raises(ProviderNotFoundError) as info:
        await http.request("GET", "/x", endpoint="status", idempotent=True)
    assert (info.value.code, info.value.message) == ("c", "gone")


def test_unique_and_chunks() -> None:
    assert unique(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert list(chunks(["1", "2", "3", "4", "5"], 2)) == [["1", "2"], ["3", "4"], ["5"]]
    assert list(chunks([], 3)) == []
    with pytest.raises(ValueError):
        list(chunks(["1"], 0))


async def test_fetch_each_bounds_concurrency() -> None:
    in_flight = 0
    peak = 0

    async def fetch(task_id: str) -> TaskSnapshot:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return TaskSnapshot(state="pending", source=Source.POLL, provider_task_id=task_id)

    ids = [f"t{i}" for i in range(12)]
    result = await fetch_each(ids, fetch, concurrency=3)
    assert list(result) == ids
    assert peak == 3


async def test_an_answer_over_the_size_limit_is_not_read_whole() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        padding = b" " * (MAX_ANSWER_BYTES + 1)
        return httpx.Response(200, content=b'{"data": {}' + padding + b"}")

    http = ProviderHttp(
        provider="p",
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        base_url="https://gw.test",
        api_key=None,
        read_error=lambda status, body: None,
        policy=RetryPolicy(max_attempts=1),
        rng=random.Random(),
    )
    with pytest.raises(ProviderProtocolError, match="larger than"):
        await http.request("GET", "/x", endpoint="x", idempotent=True)
