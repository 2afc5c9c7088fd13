"""API Mall: a polled gateway whose create is idempotent by header.

Contract: ``../shared/provider-docs/apimall-generate-images.txt`` and
``apimall-nano-banana-pro.txt``.

* create ``POST /api/v1/images/generate`` ALWAYS with an ``Idempotency-Key`` (derived
  by the caller from our task id): a create that timed out can be sent again without
  creating, or billing, a second task, so every transient failure of a create is
  retried here. A 409 means the key was reused for a different request.
* poll ``GET /api/v1/images/{task_id}``; no callbacks.
* envelope ``{"success", "data", "error": {"code", "message"}, "request_id"}``; the
  create answer has no status, so its snapshot says ``pending`` (accepted, queued).
* results: ``output.resultUrls``, ``primary_url`` and ``image_url``, deduplicated in
  that order; credits: ``credits_used``, ``remaining_credits``, ``credits_refunded``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from receiver import clock
from receiver.lifecycle import Source, TaskSnapshot
from receiver.providers.adapter import HttpAdapter
from receiver.providers.apimall_models import CATALOG, NAME
from receiver.providers.base import CreateResult
from receiver.providers.fields import as_object, iso_datetime, number, optional_text, url_list
from receiver.providers.transport import ErrorInfo, is_success, protocol_error

__all__ = ["NAME", "ApimallAdapter", "read_error", "snapshot_from_data"]

CREATE_PATH = "/api/v1/images/generate"
TASK_PATH = "/api/v1/images/{task_id}"

# ``error.code`` → the HTTP status it stands for, for a ``"success": false`` inside a 200
# (not documented, but the envelope allows it). The docs name only
# ``insufficient_credits``; the rest are the codes the bundled simulator and similar
# gateways use. Unknown codes count as 400: the provider refused, and we cannot tell why.
ERROR_CODE_STATUS: Mapping[str, int] = {
    "invalid_request": 400,
    "invalid_model": 400,
    "bad_request": 400,
    "unauthorized": 401,
    "api_key_required": 401,
    "invalid_api_key": 401,
    "insufficient_credits": 402,
    "forbidden": 403,
    "access_denied": 403,
    "not_found": 404,
    "task_not_found": 404,
    "idempotency_conflict": 409,
    "conflict": 409,
    "rate_limited": 429,
    "rate_limit_exceeded": 429,
    "content_blocked": 451,
    "content_moderation": 451,
    "internal_error": 500,
    "upstream_unavailable": 503,
    "provider_unavailable": 503,
    "service_unavailable": 503,
}


def read_error(status: int, document: Any) -> ErrorInfo | None:
    """``{"success": false, "error": {"code", "message"}}``, on an error status or a 200."""
    body = as_object(document)
    error = as_object(body.get("error"))
    code = optional_text(error.get("code"))
    message = optional_text(error.get("message")) or optional_text(body.get("message"))
    if not is_success(status):
        return ErrorInfo(status, code, message)
    if body.get("success") is False:
        return ErrorInfo(ERROR_CODE_STATUS.get(code or "", 400), code, message)
    return None


class ApimallAdapter(HttpAdapter):
    """API Mall over HTTP; see the module docstring for the contract."""

    name = NAME
    has_callbacks = False
    idempotent_create = True
    catalog = CATALOG

    read_error = staticmethod(read_error)

    async def submit(
        self, request: dict[str, Any], *, idempotency_key: str, callback_url: str | None
    ) -> CreateResult:
        """Submit once per ``idempotency_key``; ``callback_url`` is unused (no callbacks)."""
        if not idempotency_key.strip():
            raise ValueError("API Mall creates need a non-empty idempotency_key")
        document = await self.http.request(
            "POST",
            CREATE_PATH,
            endpoint="create",
            json=request,
            headers={"Idempotency-Key": idempotency_key},
            idempotent=True,
        )
        data = as_object(document.get("data"))
        task_id = optional_text(data.get("task_id"))
        if task_id is None:
            raise protocol_error(NAME, "create answer has no data.task_id", idempotent=True)
        snapshot = snapshot_from_data(
            data,
            state=optional_text(data.get("status")) or "pending",
            source=Source.SUBMIT,
            observed_at=clock.utcnow(),
        )
        return CreateResult(task_id, snapshot, request)

    async def fetch(self, provider_task_id: str) -> TaskSnapshot:
        path = TASK_PATH.format(task_id=quote(provider_task_id, safe=""))
        document = await self.http.request("GET", path, endpoint="status", idempotent=True)
        data = as_object(document.get("data"))
        state = optional_text(data.get("status"))
        if state is None:
            raise protocol_error(NAME, "status answer has no data.status", idempotent=True)
        return snapshot_from_data(
            {"task_id": provider_task_id, **data},
            state=state,
            source=Source.POLL,
            observed_at=clock.utcnow(),
        )


def snapshot_from_data(
    data: Mapping[str, Any], *, state: str, source: Source, observed_at: datetime
) -> TaskSnapshot:
    """A snapshot from the ``data`` object of a create or status answer."""
    output = as_object(data.get("output"))
    return TaskSnapshot(
        state=state,
        source=source,
        provider_task_id=optional_text(data.get("task_id")),
        result_urls=url_list(
            output.get("resultUrls"), data.get("primary_url"), data.get("image_url")
        ),
        error_code=optional_text(data.get("error_code")),
        error_message=optional_text(data.get("error_message"))
        or optional_text(data.get("failMsg")),
        credits_used=number(data.get("credits_used")),
        credits_refunded=number(data.get("credits_refunded")),
        remaining_credits=number(data.get("remaining_credits")),
        provider_created_at=iso_datetime(data.get("created_at")),
        provider_completed_at=iso_datetime(data.get("completed_at")),
        observed_at=observed_at,
    )
