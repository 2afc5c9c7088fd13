"""Authenticated JSON calls to one provider: typed errors and the retry loop.

Adapters describe a call (method, path, body, idempotency) and how their provider
spells an error (:data:`ErrorReader`); this module does the rest the same way for
every gateway: bearer auth, mapping transport failures and error bodies onto the
exceptions in ``errors.py``, reading ``Retry-After``, and repeating the call on the
schedule that ``retry.py`` computes. The loop is the only code here that waits.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson

from receiver import clock, metrics
from receiver.providers.errors import (
    ProviderCallError,
    ProviderNetworkError,
    ProviderProtocolError,
    error_for_status,
)
from receiver.providers.retry import RetryPolicy, next_delay, parse_retry_after

log = logging.getLogger(__name__)

# A batch of 50 tasks is a few dozen KiB; an answer this large is no answer we read
# (and it would sit in memory, then in a parse, whole).
MAX_ANSWER_BYTES = 8 * 1024 * 1024

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A provider's error, read from its response: the status to classify it by (HTTP,
    or the status-like ``code`` of a 200 body), the provider's code and message."""

    status: int
    code: str | None = None
    message: str | None = None


ErrorReader = Callable[[int, Any], ErrorInfo | None]
"""``(http_status, decoded_body_or_None) -> ErrorInfo`` when the response is an error.

A reader may return ``None`` for a non-2xx status it finds nothing to say about; the
status alone then decides the exception."""


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    idempotent: bool,
    policy: RetryPolicy,
    rng: random.Random,
    sleep: Sleep = asyncio.sleep,
    what: str = "provider call",
) -> T:
    """Run ``operation`` until it succeeds or :func:`next_delay` gives up."""
    attempt, waited = 1, 0.0
    while True:
        try:
            return await operation()
        except ProviderCallError as exc:
            delay = next_delay(
                attempt, exc, idempotent=idempotent, policy=policy, waited=waited, rng=rng
            )
            if delay is None:
                raise
            log.info("%s failed (attempt %d: %s); retrying in %.2fs", what, attempt, exc, delay)
            await sleep(delay)
            waited += delay
            attempt += 1


class ProviderHttp:
    """One provider's HTTP endpoint as seen by its adapter."""

    def __init__(
        self,
        *,
        provider: str,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        read_error: ErrorReader,
        policy: RetryPolicy,
        rng: random.Random,
    ) -> None:
        self.provider = provider
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._read_error = read_error
        self.policy = policy
        self._rng = rng

    async def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        idempotent: bool,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send the call (retrying where it helps); return the decoded JSON object.

        ``endpoint`` names the call in metrics (``create``, ``status``, ``batch``): a
        path can hold a task id, a metric label must not."""

        async def once() -> dict[str, Any]:
            return await self._once(method, path, endpoint, idempotent, json, params, headers)

        return await call_with_retries(
            once,
            idempotent=idempotent,
            policy=self.policy,
            rng=self._rng,
            what=f"{self.provider} {method} {path}",
        )

    async def _once(
        self,
        method: str,
        path: str,
        endpoint: str,
        idempotent: bool,
        json: Any,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self._api_key:
            all_headers["Authorization"] = f"Bearer {self._api_key}"
        began = time.perf_counter()
        try:
            async with self._client.stream(
                method,
                f"{self._base_url}{path}",
                json=json,
                params=params,
                headers=all_headers,
            ) as response:
                content = await _read_bounded(response, MAX_ANSWER_BYTES)
        except httpx.TransportError as exc:  # timeouts, refused or dropped connections
            failure = "timeout" if isinstance(exc, httpx.TimeoutException) else "network"
            metrics.provider_request(self.provider, endpoint, failure, time.perf_counter() - began)
            raise ProviderNetworkError(
                f"{method} {path}: {type(exc).__name__}: {exc}",
                provider=self.provider,
                idempotent=idempotent,
            ) from exc
        metrics.provider_request(
            self.provider, endpoint, str(response.status_code), time.perf_counter() - began
        )
        if content is None:
            raise ProviderProtocolError(
                f"{method} {path}: the answer is larger than {MAX_ANSWER_BYTES} bytes",
                provider=self.provider,
                status_code=response.status_code,
                idempotent=idempotent,
            )
        document = _decode(content)
        info = self._read_error(response.status_code, document)
        if info is None and not is_success(response.status_code):
            info = ErrorInfo(response.status_code)
        if info is not None:
            raise error_for_status(
                info.status,
                provider=self.provider,
                code=info.code,
                message=info.message or f"{method} {path}: HTTP {response.status_code}",
                retry_after=parse_retry_after(
                    response.headers.get("Retry-After"), now=clock.utcnow()
                ),
                idempotent=idempotent,
            )
        if not isinstance(document, dict):
            raise ProviderProtocolError(
                f"{method} {path}: HTTP {response.status_code} body is not a JSON object",
                provider=self.provider,
                status_code=response.status_code,
                idempotent=idempotent,
            )
        return document


async def _read_bounded(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or ``None`` once it passes ``limit`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(content: bytes) -> Any:
    """The body as JSON, or ``None`` when it is empty or not JSON (error pages)."""
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def is_success(status: int) -> bool:
    return 200 <= status < 300


def status_from_code(code: Any) -> int | None:
    """A body's status-like ``code`` (``200``, ``"402"``) as an int, else ``None``."""
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code.strip())
    return None


def protocol_error(provider: str, message: str, *, idempotent: bool) -> ProviderProtocolError:
    """A 2xx answer that breaks the documented contract (missing task id, no data)."""
    return ProviderProtocolError(message, provider=provider, idempotent=idempotent)
