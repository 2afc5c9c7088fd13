"""What the sync and the async client share: configuration, the calls, error
mapping and the retry policy. No I/O here: each client sends the :class:`Call`s
with its own httpx client and sleeps its own way.

Retries. A request that never reached the server (connection refused, connect
timeout) and a ``503`` (the server says: not now; its ``Retry-After`` is honoured)
are sent again until ``retry_seconds`` have passed. Other failures after the
request may have arrived (a read timeout, a dropped connection) are retried only
for calls that are safe to repeat: reads, and submits, which always carry an
``Idempotency-Key``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from receiver import access, errors

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 2.0
EVENTS_PATH = "/api/events"
READ_IDLE_SECONDS = 45.0  # the server pings an idle stream every 15 s


def resolve_url(url: str | None, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return (url or environ.get("GENHOOK_URL") or access.DEFAULT_URL).rstrip("/")


def resolve_token(
    token: str | None, url: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """Given, ``GENHOOK_API_TOKEN``, or the local server's token file (loopback only)."""
    environ = os.environ if environ is None else environ
    return token or environ.get("GENHOOK_API_TOKEN") or access.local_token(url, environ)


def new_idempotency_key() -> str:
    return f"genhook-py-{uuid.uuid4()}"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[bytes], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    repeatable: bool = False  # safe to send again after it may have arrived


def query(**values: Any) -> dict[str, Any]:
    """Query parameters without the unset ones; times as ISO 8601, lists repeated."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == [] or value == ():
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out[name] = value
    return out


def error_for(status: int, body: bytes, url: str) -> errors.GenhookError:
    """The client error for an error answer (``{"error": {"code", "message", ...}}``)."""
    code, message, field_name, task_id = f"http_{status}", f"HTTP {status}", None, None
    try:
        detail = orjson.loads(body).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        detail = {}
    if isinstance(detail, dict):
        code = str(detail.get("code") or code)
        message = str(detail.get("message") or message)
        field_name = detail.get("field")
        task_id = detail.get("task_id")
    if status == 401:
        return errors.UnauthorizedError(
            status,
            code,
            f"{message}: set GENHOOK_API_TOKEN to the server's token (a server on this "
            "machine keeps it in its data dir, api-token)",
        )
    if status == 404:
        return errors.ApiNotFoundError(status, code, message, task_id=task_id)
    if status == 409:
        return errors.ConflictError(status, code, message, field=field_name, task_id=task_id)
    if status in (400, 413, 422):
        return errors.ApiRequestError(status, code, message, field=field_name, task_id=task_id)
    if status == 503:
        return errors.UnavailableError(f"genhook at {url} is unavailable: {message}", url=url)
    return errors.ApiError(status, code, message, field=field_name, task_id=task_id)


def unreachable(url: str, exc: BaseException) -> errors.UnavailableError:
    return errors.UnavailableError(
        f"no genhook server answers at {url} ({type(exc).__name__}); start one with "
        "`genhook serve` (or scripts/run), or point GENHOOK_URL at yours",
        url=url,
    )


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def backoff(attempt: int) -> float:
    """Seconds before try ``attempt + 1`` (0-based): 0.2, 0.4, 0.8 ... at most 2."""
    return float(min(BACKOFF_FIRST * 2**attempt, BACKOFF_MAX))


def parse_with(model: Any) -> Callable[[bytes], Any]:
    return lambda body: model.model_validate_json(body)


def nothing(body: bytes) -> None:
    return None
