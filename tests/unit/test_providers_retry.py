"""The pure retry schedule: who is retried, how long we wait, when we give up."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from receiver.providers.errors import (
    ContentRejectedError,
    InsufficientCreditsError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderCallError,
    ProviderConflictError,
    ProviderForbiddenError,
    ProviderNetworkError,
    ProviderNotFoundError,
    ProviderProtocolError,
    ProviderRateLimitedError,
    ProviderServerError,
    ProviderUnavailableError,
    error_for_status,
)
from receiver.providers.retry import (
    RetryPolicy,
    backoff_delay,
    may_retry,
    next_delay,
    parse_retry_after,
)

NOW = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, multiplier=2, max_delay=8, budget=20)


def err(cls: type[ProviderCallError], retry_after: float | None = None) -> ProviderCallError:
    return cls("boom", provider="test", retry_after=retry_after)


def delay(
    error: BaseException, *, attempt: int = 1, idempotent: bool = False, waited: float = 0.0
) -> float | None:
    return next_delay(
        attempt, error, idempotent=idempotent, policy=POLICY, waited=waited, rng=random.Random(7)
    )


@pytest.mark.parametrize(
    "cls",
    [
        ProviderBadRequestError,
        ProviderAuthError,
        ProviderForbiddenError,
        InsufficientCreditsError,
        ProviderNotFoundError,
        ProviderConflictError,
        ContentRejectedError,
    ],
)
@pytest.mark.parametrize("idempotent", [True, False])
def test_rejections_are_never_retried(cls: type[ProviderCallError], idempotent: bool) -> None:
    assert delay(err(cls), idempotent=idempotent) is None
    assert not may_retry(err(cls), idempotent=idempotent)


@pytest.mark.parametrize("cls", [ProviderRateLimitedError, ProviderUnavailableError])
@pytest.mark.parametrize("idempotent", [True, False])
def test_429_and_503_are_retried_even_for_non_idempotent_calls(
    cls: type[ProviderCallError], idempotent: bool
) -> None:
    assert delay(err(cls), idempotent=idempotent) is not None


@pytest.mark.parametrize("cls", [ProviderServerError, ProviderNetworkError, ProviderProtocolError])
def test_ambiguous_failures_are_retried_only_when_idempotent(
    cls: type[ProviderCallError],
) -> None:
    assert delay(err(cls), idempotent=True) is not None
    assert delay(err(cls), idempotent=False) is None


def test_programming_errors_are_not_retried() -> None:
    assert delay(ValueError("bug"), idempotent=True) is None


def test_retry_after_replaces_the_backoff_exactly() -> None:
    assert delay(err(ProviderRateLimitedError, retry_after=3.0)) == 3.0
    assert delay(err(ProviderUnavailableError, retry_after=0.0)) == 0.0


def test_retry_after_beyond_the_budget_gives_up() -> None:
    assert delay(err(ProviderRateLimitedError, retry_after=21.0)) is None
    assert delay(err(ProviderRateLimitedError, retry_after=5.0), waited=16.0) is None
    assert delay(err(ProviderRateLimitedError, retry_after=5.0), waited=15.0) == 5.0


def test_attempts_are_bounded() -> None:
    error = err(ProviderUnavailableError)
    assert delay(error, attempt=3) is not None
    assert delay(error, attempt=4) is None
    single = RetryPolicy(max_attempts=1)
    assert (
        next_delay(1, error, idempotent=True, policy=single, waited=0, rng=random.Random()) is None
    )


def test_backoff_grows_exponentially_with_equal_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    for attempt, step in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        for _ in range(50):
            value = backoff_delay(attempt, POLICY, rng)
            assert step / 2 <= value <= step


def test_jitter_comes_from_the_injected_random() -> None:
    first = [backoff_delay(3, POLICY, random.Random(42)) for _ in range(3)]
    assert len(set(first)) == 1  # same seed, same draw
    assert backoff_delay(3, POLICY, random.Random(1)) != backoff_delay(3, POLICY, random.Random(2))


def test_backoff_that_would_overrun_the_budget_gives_up() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=4, max_delay=8, budget=5)
    error = err(ProviderUnavailableError)
    assert (
        next_delay(1, error, idempotent=True, policy=policy, waited=0, rng=random.Random())
        is not None
    )
    assert (
        next_delay(2, error, idempotent=True, policy=policy, waited=4.5, rng=random.Random())
        is None
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Thu, 12 Mar 2026 09:30:10 GMT", 10.0),
        ("Thu, 12 Mar 2026 09:29:00 GMT", 0.0),  # already past
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(budget=-1)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ProviderBadRequestError),
        (401, ProviderAuthError),
        (402, InsufficientCreditsError),
        (403, ProviderForbiddenError),
        (404, ProviderNotFoundError),
        (409, ProviderConflictError),
        (422, ProviderBadRequestError),
        (429, ProviderRateLimitedError),
        (451, ContentRejectedError),
        (500, ProviderServerError),
        (502, ProviderServerError),
        (503, ProviderUnavailableError),
        (504, ProviderServerError),
        (302, ProviderProtocolError),
    ],
)
def test_error_for_status(status: int, cls: type[ProviderCallError]) -> None:
    error = error_for_status(status, provider="p", code="c", message="m", retry_after=2.0)
    assert type(error) is cls
    assert (error.status_code, error.code, error.message, error.retry_after) == (
        status,
        "c",
        "m",
        2.0,
    )


def test_retryable_property_combines_class_and_idempotency() -> None:
    assert error_for_status(503, provider="p").retryable
    assert error_for_status(429, provider="p").retryable
    assert not error_for_status(500, provider="p").retryable
    assert error_for_status(500, provider="p", idempotent=True).retryable
    assert not error_for_status(402, provider="p", idempotent=True).retryable
    assert ProviderNetworkError("x", provider="p", idempotent=True).retryable
    assert not ProviderNetworkError("x", provider="p").retryable
    assert isinstance(error_for_status(403, provider="p"), ProviderAuthError)
