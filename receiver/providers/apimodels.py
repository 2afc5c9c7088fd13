"""apimodels.app: the one gateway here that calls us back.

Contract: ``../shared/provider-docs/apimodels-images-and-callbacks.txt``.

* create ``POST /api/v1/images/generations`` with ``callback_url``; poll
  ``GET /api/v1/images/generations?task_id=``; both answer
  ``{"code", "msg", "data": {taskId, state, resultUrls, failMsg, createTime,
  completeTime}}``. A 200 HTTP status can still carry an error ``code`` in the body:
  that code is classified like an HTTP status (``402`` → insufficient credits...).
* The callback is ``{"code", "msg", "data": {taskId, model, state, param, resultJson,
  failCode, failMsg, costTime, completeTime, createTime}}`` where ``param`` and
  ``resultJson`` are JSON strings that must be parsed a second time.
* Creates carry no idempotency key, so a create is retried only when the provider
  said it did not take it (429/503); timeouts and other 5xx reach the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from receiver import clock
from receiver.lifecycle import Source, TaskSnapshot
from receiver.providers.adapter import HttpAdapter
from receiver.providers.apimodels_models import CATALOG, NAME
from receiver.providers.base import CreateResult, ParsedCallback
from receiver.providers.errors import MalformedCallbackError
from receiver.providers.fields import as_object, epoch, integer, optional_text, url_list
from receiver.providers.jsonfields import decode_json_field
from receiver.providers.transport import ErrorInfo, is_success, protocol_error, status_from_code

__all__ = ["NAME", "ApimodelsAdapter", "ParsedCallback", "parse_callback", "read_error"]

GENERATIONS_PATH = "/api/v1/images/generations"


def read_error(status: int, document: Any) -> ErrorInfo | None:
    """``{"code", "msg"}``: an error when the HTTP status or the body's ``code`` says so."""
    body = as_object(document)
    code = body.get("code")
    message = optional_text(body.get("msg")) or optional_text(body.get("message"))
    if not is_success(status):
        return ErrorInfo(status, optional_text(code), message)
    body_status = status_from_code(code)
    if body_status is not None and not is_success(body_status):
        return ErrorInfo(body_status, optional_text(code), message)
    return None


class ApimodelsAdapter(HttpAdapter):
    """apimodels.app over HTTP; see the module docstring for the contract."""

    name = NAME
    has_callbacks = True
    catalog = CATALOG

    read_error = staticmethod(read_error)

    async def submit(
        self, request: dict[str, Any], *, idempotency_key: str, callback_url: str | None
    ) -> CreateResult:
        """Submit; ``idempotency_key`` is unused (apimodels has no such header)."""
        body = {**request, "callback_url": callback_url} if callback_url else request
        document = await self.http.request(
            "POST", GENERATIONS_PATH, endpoint="create", json=body, idempotent=False
        )
        data = as_object(document.get("data"))
        task_id = optional_text(data.get("taskId"))
        if task_id is None:
            raise protocol_error(NAME, "create answer has no data.taskId", idempotent=False)
        snapshot = snapshot_from_data(
            data,
            state=_state(data) or "pending",
            source=Source.SUBMIT,
            observed_at=clock.utcnow(),
        )
        return CreateResult(task_id, snapshot, request)

    async def fetch(self, provider_task_id: str) -> TaskSnapshot:
        document = await self.http.request(
            "GET",
            GENERATIONS_PATH,
            endpoint="status",
            params={"task_id": provider_task_id},
            idempotent=True,
        )
        data = as_object(document.get("data"))
        state = _state(data)
        if state is None:
            raise protocol_error(NAME, "status answer has no data.state", idempotent=True)
        return snapshot_from_data(
            {"taskId": provider_task_id, **data},
            state=state,
            source=Source.POLL,
            observed_at=clock.utcnow(),
        )

    def parse_callback(self, body: bytes, *, observed_at: datetime) -> ParsedCallback:
        return parse_callback(body, observed_at=observed_at)


def parse_callback(body: bytes, *, observed_at: datetime) -> ParsedCallback:
    """Read an apimodels callback body.

    Raises :class:`MalformedCallbackError` only when the body says nothing usable
    (not JSON, no ``data`` object, no ``state``); anything less is parsed as far as it
    goes and the problems are listed in ``parse_errors``.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedCallbackError(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedCallbackError("body is not a JSON object")
    data = document.get("data")
    if not isinstance(data, dict):
        raise MalformedCallbackError("body has no 'data' object")
    state = _state(data)
    if state is None:
        raise MalformedCallbackError("'data.state' is missing or not a string")

    param = decode_json_field("param", data.get("param"))
    errors = [param.error] if param.error else []
    snapshot = snapshot_from_data(
        data, state=state, source=Source.CALLBACK, observed_at=observed_at, errors=errors
    )
    asked = param.value if param.error is None and isinstance(param.value, dict) else {}
    model = optional_text(asked.get("model")) or optional_text(data.get("model"))
    snapshot = replace(snapshot, model=model, request=request_of(asked, model))
    request_params = param.value if param.error is None else param.raw
    return ParsedCallback(snapshot, request_params, tuple(errors))


def request_of(param: Mapping[str, Any], model: str | None) -> dict[str, Any] | None:
    """The echoed ``param`` in the shape genhook stores a request it submitted in
    (``{"model", "prompt", "params"}``), so a task created elsewhere reads the same;
    None when the callback echoes nothing."""
    if not param:
        return None
    rest = {k: v for k, v in param.items() if k not in ("model", "prompt", "callback_url")}
    prompt = param.get("prompt")
    return {"model": model, "prompt": prompt if isinstance(prompt, str) else None, "params": rest}


def snapshot_from_data(
    data: Mapping[str, Any],
    *,
    state: str,
    source: Source,
    observed_at: datetime,
    errors: list[str] | None = None,
) -> TaskSnapshot:
    """A snapshot from a ``data`` object of any apimodels answer (create, poll, callback).

    Result URLs come from ``resultUrls`` (poll answers) and from the double-encoded
    ``resultJson`` (callbacks), whichever is present; ``state`` is read by the caller,
    which knows whether a missing one is an error or a default.
    """
    errors = [] if errors is None else errors
    result = decode_json_field("resultJson", data.get("resultJson"))
    if result.error:
        errors.append(result.error)
    return TaskSnapshot(
        state=state,
        source=source,
        provider_task_id=optional_text(data.get("taskId"), "taskId", errors),
        result_urls=url_list(data.get("resultUrls"), _result_urls(result.value, errors)),
        error_code=optional_text(data.get("failCode"), "failCode", errors),
        error_message=optional_text(data.get("failMsg"), "failMsg", errors),
        provider_created_at=epoch(data.get("createTime"), "createTime", errors),
        provider_completed_at=epoch(data.get("completeTime"), "completeTime", errors),
        provider_cost_ms=integer(data.get("costTime"), "costTime", errors),
        observed_at=observed_at,
    )


def _state(data: Mapping[str, Any]) -> str | None:
    state = data.get("state")
    return state if isinstance(state, str) and state.strip() else None


def _result_urls(result: Any, errors: list[str]) -> tuple[str, ...]:
    if result is None:
        return ()
    if not isinstance(result, dict):
        errors.append("resultJson: expected an object with 'resultUrls'")
        return ()
    urls = result.get("resultUrls")
    if urls is None:
        return ()
    if not isinstance(urls, list):
        errors.append("resultJson.resultUrls: expected a list")
        return ()
    good = tuple(u for u in urls if isinstance(u, str) and u)
    if len(good) != len(urls):
        errors.append("resultJson.resultUrls: dropped entries that are not URLs")
    return good
