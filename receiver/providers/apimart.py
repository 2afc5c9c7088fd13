"""APIMart: a polled gateway with a batch status endpoint.

Contract: ``../shared/provider-docs/apimart-gemini-2.5-flash-image.txt`` and
``apimart-gpt-image-2.txt``.

* create ``POST /v1/images/generations`` → ``{"code": 200, "data": [{"status":
  "submitted", "task_id"}]}``. No idempotency key exists, so a create is retried only
  when the provider said it did not take it (429/503).
* poll ``GET /v1/tasks/{task_id}`` → ``{"code", "data": {id, status, progress,
  created, completed, actual_time, result: {images: [{url: [...], expires_at}]},
  error: {message}}}`` (times in epoch seconds, ``actual_time`` in seconds), and
  ``POST /v1/tasks/batch`` with ``{"task_ids": [...]}`` for many at once, in chunks
  of at most ``batch_size`` ids.
* errors: ``{"error": {"code"|"type", "message"}}`` or ``{"code", "message"|"msg"}``;
  like apimodels, a 200 whose body ``code`` is not 2xx is an error.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from receiver import clock
from receiver.lifecycle import Source, TaskSnapshot
from receiver.providers.adapter import DEFAULT_POLICY, HttpAdapter
from receiver.providers.apimart_models import CATALOG, NAME
from receiver.providers.base import CreateResult
from receiver.providers.batching import chunks, unique
from receiver.providers.fields import as_object, epoch, integer, optional_text, url_list
from receiver.providers.retry import RetryPolicy
from receiver.providers.transport import ErrorInfo, is_success, protocol_error, status_from_code

__all__ = ["NAME", "ApimartAdapter", "read_error", "snapshot_from_task"]

CREATE_PATH = "/v1/images/generations"
TASK_PATH = "/v1/tasks/{task_id}"
BATCH_PATH = "/v1/tasks/batch"
# The docs name the batch endpoint but no limit; 50 stays well inside what such
# endpoints accept and is configurable per adapter.
DEFAULT_BATCH_SIZE = 50


def read_error(status: int, document: Any) -> ErrorInfo | None:
    """An error when the HTTP status or the body's ``code`` says so."""
    body = as_object(document)
    error = as_object(body.get("error"))
    code = optional_text(error.get("code")) or optional_text(error.get("type"))
    message = (
        optional_text(error.get("message"))
        or optional_text(body.get("message"))
        or optional_text(body.get("msg"))
    )
    if not is_success(status):
        return ErrorInfo(status, code or optional_text(body.get("code")), message)
    body_status = status_from_code(body.get("code"))
    if body_status is not None and not is_success(body_status):
        return ErrorInfo(body_status, code or str(body_status), message)
    return None


class ApimartAdapter(HttpAdapter):
    """APIMart over HTTP; see the module docstring for the contract."""

    name = NAME
    has_callbacks = False
    catalog = CATALOG

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        rng: random.Random | None = None,
        concurrency: int = 4,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(client, base_url, api_key, policy=policy, rng=rng, concurrency=concurrency)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size

    read_error = staticmethod(read_error)

    async def submit(
        self, request: dict[str, Any], *, idempotency_key: str, callback_url: str | None
    ) -> CreateResult:
        """Submit; ``idempotency_key`` and ``callback_url`` are unused (no such features)."""
        document = await self.http.request(
            "POST", CREATE_PATH, endpoint="create", json=request, idempotent=False
        )
        data = document.get("data")
        first = as_object(data[0] if isinstance(data, list) and data else data)
        task_id = optional_text(first.get("task_id")) or optional_text(first.get("id"))
        if task_id is None:
            raise protocol_error(NAME, "create answer has no data[0].task_id", idempotent=False)
        snapshot = TaskSnapshot(
            state=optional_text(first.get("status")) or "submitted",
            source=Source.SUBMIT,
            provider_task_id=task_id,
            observed_at=clock.utcnow(),
        )
        return CreateResult(task_id, snapshot, request)

    async def fetch(self, provider_task_id: str) -> TaskSnapshot:
        path = TASK_PATH.format(task_id=quote(provider_task_id, safe=""))
        document = await self.http.request("GET", path, endpoint="status", idempotent=True)
        task = as_object(document.get("data"))
        snapshot = snapshot_from_task(
            task, fallback_id=provider_task_id, observed_at=clock.utcnow()
        )
        if snapshot is None:
            raise protocol_error(NAME, "status answer has no data.status", idempotent=True)
        return snapshot

    async def fetch_many(self, provider_task_ids: Sequence[str]) -> dict[str, TaskSnapshot]:
        """Batch endpoint, ``batch_size`` ids per request, one request at a time."""
        wanted = unique(provider_task_ids)
        found: dict[str, TaskSnapshot] = {}
        for chunk in chunks(wanted, self.batch_size):
            document = await self.http.request(
                "POST", BATCH_PATH, endpoint="batch", json={"task_ids": chunk}, idempotent=True
            )
            observed_at = clock.utcnow()
            asked = set(chunk)
            for task in batch_tasks(document):
                snapshot = snapshot_from_task(task, observed_at=observed_at)
                if snapshot is not None and snapshot.provider_task_id in asked:
                    found[snapshot.provider_task_id] = snapshot
        return {task_id: found[task_id] for task_id in wanted if task_id in found}


def batch_tasks(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The task objects of a batch answer.

    The docs show only the request; accepted shapes are ``data`` as a list of task
    objects, as an object holding such a list (``tasks``/``items``/``results``), or as
    an object keyed by task id.
    """
    data = document.get("data")
    if isinstance(data, dict):
        listed = next(
            (data[key] for key in ("tasks", "items", "results") if isinstance(data.get(key), list)),
            None,
        )
        if listed is None:
            for task_id, task in data.items():
                if isinstance(task, dict):
                    yield {"id": task_id, **task}
            return
        data = listed
    if isinstance(data, list):
        yield from (task for task in data if isinstance(task, dict))


def snapshot_from_task(
    task: Mapping[str, Any], *, observed_at: datetime, fallback_id: str | None = None
) -> TaskSnapshot | None:
    """A snapshot from one task object; ``None`` when it has no status to report."""
    state = optional_text(task.get("status"))
    if state is None:
        return None
    images = [as_object(image) for image in _list(as_object(task.get("result")).get("images"))]
    expiries = [
        e for e in (epoch(i.get("expires_at"), "expires_at", millis=False) for i in images) if e
    ]
    error = task.get("error")
    error_fields = as_object(error)
    actual_seconds = integer(task.get("actual_time"), "actual_time")
    return TaskSnapshot(
        state=state,
        source=Source.POLL,
        provider_task_id=(
            optional_text(task.get("id")) or optional_text(task.get("task_id")) or fallback_id
        ),
        result_urls=url_list(*(image.get("url") for image in images)),
        error_code=optional_text(error_fields.get("code"))
        or optional_text(error_fields.get("type")),
        error_message=(
            optional_text(error_fields.get("message"))
            if isinstance(error, dict)
            else optional_text(error)
        ),
        provider_created_at=epoch(task.get("created"), "created", millis=False),
        provider_completed_at=epoch(task.get("completed"), "completed", millis=False),
        provider_cost_ms=actual_seconds * 1000 if actual_seconds is not None else None,
        result_expires_at=min(expiries) if expiries else None,
        observed_at=observed_at,
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
